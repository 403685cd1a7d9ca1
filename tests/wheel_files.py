"""Real wheels for tests, built here by hand (zip with METADATA, WHEEL and RECORD): pip installs them."""

import base64
import hashlib
import re
import zipfile
from pathlib import Path


def make_wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = (), body: str = "") -> dict:
    """A pure-Python wheel of module ``name`` (underscored) and its lock entry."""
    module = re.sub(r"[-_.]+", "_", name)
    dist_info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": f"VERSION = {version!r}\n{body}",
        f"{dist_info}/METADATA": "Metadata-Version: 2.1\n"
        f"Name: {name}\nVersion: {version}\nSummary: test wheel {name}\nRequires-Python: >=3.9\n"
        + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: gauntlet-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"
    filename = f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(folder / filename, "w") as archive:
        for path, text in files.items():
            archive.writestr(zipfile.ZipInfo(path, (2026, 1, 1, 0, 0, 0)), text)
    sha256 = hashlib.sha256((folder / filename).read_bytes()).hexdigest()
    return {"name": name, "version": version, "filename": filename, "sha256": sha256}
