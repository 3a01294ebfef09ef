"""A small progress bar that shows a rate (pairs/s, triplets/s): the command line's pairs, the
statistics pass of cached training, the subsets of an evaluation.

keras.utils.Progbar always writes to stdout (which `pair` and `all-pairs` use for results), shows
time per item rather than items per second, and in a log file prints nothing until the end or one
line per update. No TensorFlow or Keras here.
"""

import sys
import time

__all__ = ["ProgressBar"]


class ProgressBar:
    """`label: done/total units [====....] rate units/s  ETA`, redrawn at most every `interval` s.

    On a terminal the line is redrawn in place; on a pipe or file (logs, CI) a full line is
    written every `log_interval` seconds and at the end (with the time taken), so that a long
    stretch shows it is moving without filling the log with redraws.

    Args:
      total: units in all.
      units: their name, plural ("pairs", "triplets").
      stream: where to write; default stderr.
      label: text before the counts (which subset, which pass); none by default.
    """

    def __init__(self, total, units="pairs", stream=None, interval=0.2, log_interval=10.0,
                 label=""):
        self.total, self.units, self.label = int(total), units, label
        self.stream = sys.stderr if stream is None else stream
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if self.tty else log_interval
        self.start = time.perf_counter()
        self.done = 0
        self._last_draw = None
        self._open_line = False  # a tty line without its newline yet

    def rate(self):
        elapsed = time.perf_counter() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def _text(self, final=False):
        rate = self.rate()
        width = 24
        filled = int(width * self.done / self.total) if self.total else width
        text = (f"{self.label}: " if self.label else "") + (
            f"{self.done}/{self.total} {self.units} [{'=' * filled}{'.' * (width - filled)}]"
            f" {rate:.1f} {self.units}/s")
        if final:
            text += f" in {time.perf_counter() - self.start:.1f} s"
        elif 0 < self.done < self.total and rate > 0:
            text += f"  ETA {(self.total - self.done) / rate:.0f} s"
        return text

    def _draw(self, final=False):
        if self.tty:
            self.stream.write("\r\x1b[K" + self._text(final) + ("\n" if final else ""))
            self._open_line = not final
        else:
            self.stream.write(self._text(final) + "\n")
        self.stream.flush()
        self._last_draw = time.perf_counter()

    def update(self, done):
        """Sets the number of finished units and redraws when due (in a log, not the first
        time: a line there says something only once time has passed)."""
        self.done = min(int(done), self.total)
        now = time.perf_counter()
        if self._last_draw is None:
            if self.tty:
                self._draw()
            else:
                self._last_draw = self.start
        elif now - self._last_draw >= self.interval:
            self._draw()

    def add(self, count=1):
        self.update(self.done + count)

    def note(self, message):
        """Writes `message` on its own line (a skipped file, say) without breaking the bar."""
        if self._open_line:
            self.stream.write("\r\x1b[K")
            self._open_line = False
        self.stream.write(message + "\n")
        self.stream.flush()

    def close(self):
        """The final line (done, overall rate, time taken), ending with a newline."""
        self._draw(final=True)
