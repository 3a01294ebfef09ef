"""A small progress bar on stderr that shows a rate (pairs/s), for the command line.

keras.utils.Progbar prints to stdout (which `pair` and `all-pairs` use for results) and shows
time per item, not items per second. No TensorFlow or Keras here.
"""

import sys
import time

__all__ = ["ProgressBar"]


class ProgressBar:
    """`done / total unit  rate unit/s  ETA` on one line, redrawn at most every `interval` s.

    On a terminal the line is redrawn in place; on a pipe or file (logs, CI) a full line is
    written every `log_interval` seconds and at the end, so logs do not fill with redraws.
    """

    def __init__(self, total, unit="pair", stream=None, interval=0.2, log_interval=10.0):
        self.total, self.unit = int(total), unit
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

    def _text(self):
        rate = self.rate()
        width = 24
        filled = int(width * self.done / self.total) if self.total else width
        text = (f"{self.done}/{self.total} {self.unit}s [{'=' * filled}{'.' * (width - filled)}]"
                f" {rate:.1f} {self.unit}s/s")
        if 0 < self.done < self.total and rate > 0:
            text += f"  ETA {(self.total - self.done) / rate:.0f} s"
        return text

    def _draw(self, final=False):
        if self.tty:
            self.stream.write("\r\x1b[K" + self._text() + ("\n" if final else ""))
            self._open_line = not final
        else:
            self.stream.write(self._text() + "\n")
        self.stream.flush()
        self._last_draw = time.perf_counter()

    def update(self, done):
        """Sets the number of finished units (pairs) and redraws when due."""
        self.done = min(int(done), self.total)
        now = time.perf_counter()
        if self._last_draw is None or now - self._last_draw >= self.interval:
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
        """The final line (done, overall rate), ending with a newline."""
        self._draw(final=True)
