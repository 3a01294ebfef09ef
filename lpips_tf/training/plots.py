"""Plots of a run's history: accuracy.png (2AFC x 100) and loss.png, train vs validation."""

import os


def plot_history(rows, run_dir, title, marked_epoch=None):
    """Writes accuracy.png (2AFC x 100) and loss.png, train and validation per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    epochs = [r["epoch"] for r in rows]  # 1-based (run_folder.read_history)
    written = []
    for key, ylabel, fname, scale in (("two_afc", "2AFC score (%)", "accuracy.png", 100.0),
                                      ("loss", "binary cross-entropy", "loss.png", 1.0)):
        fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
        for prefix, label, style in (("", "train", "o-"), ("val_", "validation", "s-")):
            values = [r.get(prefix + key, float("nan")) * scale for r in rows]
            ax.plot(epochs, values, style, label=label)
        if marked_epoch is not None:
            ax.axvline(marked_epoch, color="grey", linestyle=":", label=f"saved (epoch {marked_epoch})")
        what = "2AFC score" if key == "two_afc" else "loss"
        first, _, rest = title.partition("\n")
        if rest:  # the synthetic-data banner, under the title
            ax.set_title(f"{first}: {what}\n{rest}", fontsize=9)
        else:
            ax.set_title(f"{first}: {what}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = os.path.join(run_dir, fname)
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
