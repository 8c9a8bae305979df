# The device's flash as a directory of small files. Writes are atomic: the new content goes to
# "<name>.tmp", then os.rename replaces the old file in one step, so a power cut leaves the old or
# the new content, never half of one (littlefs and POSIX rename both guarantee that). Left-over
# .tmp files are the trace of a cut mid-write and are discarded by sweep().
import os

TMP = ".tmp"


class FlashDir:
    def __init__(self, root):
        self.root = root.rstrip("/") if len(root) > 1 else root
        self.mkdir("")

    def path(self, name):
        return self.root + "/" + name if name else self.root

    def mkdir(self, name):
        try:
            os.mkdir(self.path(name))
        except OSError:
            pass  # exists

    def read(self, name):
        try:
            with open(self.path(name), "rb") as f:
                return f.read()
        except OSError:
            return None

    def write(self, name, data):
        tmp = self.path(name) + TMP
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
        os.rename(tmp, self.path(name))

    def remove(self, name):
        try:
            os.remove(self.path(name))
            return True
        except OSError:
            return False

    def names(self, folder):
        try:
            return os.listdir(self.path(folder))
        except OSError:
            return []

    def sweep(self, folder):
        """Delete half-written files in folder; returns how many were found."""
        n = 0
        for name in self.names(folder):
            if name.endswith(TMP):
                self.remove(folder + "/" + name if folder else name)
                n += 1
        return n
