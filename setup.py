"""setup.cfg holds the package's metadata; this file only copies the shipped environments (``config/``) and
sample inputs (``samples/``) into the built package as ``tap_templates/shipped/``, so that a regular install
works from any directory. An editable install reads them from the checkout instead (``tap_templates.shipped``).
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("config", "samples")


class BuildWithShippedFiles(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for name in SHIPPED:
            for source in sorted(Path(name).iterdir()):
                if source.is_file():
                    target = Path(self.build_lib, "tap_templates", "shipped", name, source.name)
                    self.mkpath(str(target.parent))
                    self.copy_file(str(source), str(target))


setup(cmdclass={"build_py": BuildWithShippedFiles})
