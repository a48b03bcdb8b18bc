"""LanceDB is imported with ``typing_extensions.override`` (what it uses on Python 3.12) instead of the ``overrides``
package's checking decorator; the real package is untouched for anyone who imports it, and LanceDB works."""

from __future__ import annotations

import subprocess
import sys


def test_lancedb_imports_with_typing_override_and_the_real_package_stays_available(tmp_path):
    code = ("import sys; from polyseek.stores.lancedb import import_lancedb; db = import_lancedb(); "
            "print('overrides' in sys.modules); import lancedb.db as d, typing_extensions; "
            "print(d.override is typing_extensions.override); "
            "import overrides; print(overrides.override is not typing_extensions.override, hasattr(overrides, 'final')); "
            "t = db.connect(sys.argv[1]).create_table('t', data=[{'x': 1}]); print(t.count_rows())")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "db")], capture_output=True, text=True, check=True)
    # (on 3.12 lancedb takes typing.override itself, which typing_extensions re-exports: the same answers)
    assert out.stdout.split() == ["False", "True", "True", "True", "1"], out.stderr
