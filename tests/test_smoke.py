"""`make smoke` (replication.smoke): every strategy trains, and the header names what it is not."""

import initstate
from replication import smoke


def test_smoke_header_points_at_the_replication_and_every_strategy_learns(capsys, monkeypatch):
    monkeypatch.setattr(smoke, "run", lambda init, steps=60, seed=0: 0.5)  # main() is checked, not the fits
    smoke.main()
    out = capsys.readouterr().out.splitlines()
    assert out[0] == smoke.HEADER and "make reproduce" in out[0] and "open" not in out[0]
    assert [line.split()[0] for line in out[1:]] == list(initstate.INIT_CHOICES)


def test_a_short_fit_lowers_the_loss():
    # 5 steps against 60 of the same toy task (same seed and data stream): training does something
    assert smoke.run("zero", steps=60) < 0.5 * smoke.run("zero", steps=5)
