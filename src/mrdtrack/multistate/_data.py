"""Checks and reshaping of panel data for the multi-state likelihoods."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from mrdtrack._frames import to_polars

from ._likelihood import OBS_DEATH, OBS_EXACT, OBS_SNAPSHOT, PairData, SeqData


@dataclass(frozen=True)
class PanelData:
    """Sorted observations with 0-based states (censoring codes kept as negative values)."""

    subject_index: np.ndarray  # (n,) 0..N-1
    time: np.ndarray
    state: np.ndarray  # 0-based, or -(1 + code index) for censoring codes
    obstype: np.ndarray
    obstrue: np.ndarray
    x: np.ndarray  # (n, C) raw covariates
    cov_means: np.ndarray  # (C,)
    source_row: np.ndarray  # 1-based row in the caller's data
    censor_sets: np.ndarray  # (n_codes, K) 0/1
    n_subjects: int
    ex: np.ndarray | None = None  # (n, C_e) raw covariates on misclassification
    ecov_means: np.ndarray | None = None  # (C_e,)

    @property
    def ez(self) -> np.ndarray:
        """Centred misclassification covariates (n, C_e); (n, 0) without them."""
        if self.ex is None:
            return np.zeros((len(self.time), 0))
        return self.ex - self.ecov_means[None, :]

    @property
    def z(self) -> np.ndarray:
        return self.x - self.cov_means[None, :]

    @property
    def first(self) -> np.ndarray:
        f = np.ones(len(self.time), dtype=bool)
        f[1:] = self.subject_index[1:] != self.subject_index[:-1]
        return f

    @property
    def last(self) -> np.ndarray:
        last = np.ones(len(self.time), dtype=bool)
        last[:-1] = self.subject_index[:-1] != self.subject_index[1:]
        return last


def _fail(msg: str) -> None:
    raise ValueError(msg)


def _code_states(raw_state: np.ndarray, state: str, n_states: int, censored_states):
    """0-based states, censoring codes as -(1 + code index), and each code's set of states."""
    if not np.issubdtype(raw_state.dtype, np.number) or np.any(raw_state != np.round(raw_state)):
        _fail(f"column {state!r} must hold integer state numbers 1..{n_states} (msm convention).")
    raw_state = raw_state.astype(np.int64)
    codes = sorted(censored_states) if censored_states else []
    st = raw_state - 1
    cens_sets = np.zeros((len(codes), n_states))
    for i, code in enumerate(codes):
        allowed = np.asarray(censored_states[code], dtype=int)
        if np.any((allowed < 1) | (allowed > n_states)):
            _fail(f"censored_states[{code}] names a state outside 1..{n_states}.")
        cens_sets[i, allowed - 1] = 1.0
        st[raw_state == code] = -(1 + i)
    bad = int(np.sum((st >= n_states) | ((st < 0) & ~np.isin(raw_state, codes))))
    if bad:
        _fail(
            f"column {state!r}: {bad} row(s) hold a state outside 1..{n_states}"
            + (f" and the censoring codes {codes}" if codes else "")
            + "."
        )
    return st, cens_sets


def prepare_panel(
    data,
    *,
    subject: str,
    time: str,
    state: str,
    n_states: int,
    covariates: Sequence[str],
    exact_death_states: Sequence[int],
    censored_states: dict[int, Sequence[int]] | None,
    obstype: str | None,
    obstrue: str | None,
    center: bool,
    imputed: str | None = None,
    misc_covariates: Sequence[str] = (),
) -> PanelData:
    df = to_polars(data)
    used = [subject, time, state, *covariates, *misc_covariates]
    used += [c for c in (obstype, obstrue) if c]
    for col in used:
        if col not in df.columns:
            _fail(f"column {col!r} not found; available columns: {sorted(df.columns)}")
    for col in used:
        nnull = df.get_column(col).null_count()
        if col != subject and df.get_column(col).dtype.is_float():
            nnull += int(df.get_column(col).is_nan().sum())
        if nnull:
            _fail(
                f"column {col!r} has {nnull} missing value(s); panel Markov models need complete "
                "records. Remove or impute those rows explicitly before fitting."
            )
    df = df.with_row_index("__mt_row", offset=1)
    df = df.with_columns(pl.col(subject).cast(pl.Utf8).alias("__mt_sid"))
    # keep subjects in order of first appearance, times ascending within subject (stable)
    first_pos = df.group_by("__mt_sid").agg(pl.col("__mt_row").min().alias("__mt_first"))
    df = df.join(first_pos, on="__mt_sid").sort(["__mt_first", time], maintain_order=True)
    sid = df.get_column("__mt_first").to_numpy()
    _, subj_idx = np.unique(sid, return_inverse=True)
    # np.unique sorts by first-row number, which is the sort order already
    t = df.get_column(time).cast(pl.Float64).to_numpy()
    same = subj_idx[1:] == subj_idx[:-1]
    dup = int(np.sum(same & (np.diff(t) == 0)))
    if dup:
        _fail(
            f"column {time!r}: {dup} observation(s) repeat an earlier time of the same subject; "
            "each subject needs strictly increasing observation times."
        )
    st, cens_sets = _code_states(df.get_column(state).to_numpy(), state, n_states, censored_states)
    if obstype:
        ot = df.get_column(obstype).to_numpy().astype(np.int64)
        nbad = int(np.sum(~np.isin(ot, [OBS_SNAPSHOT, OBS_EXACT, OBS_DEATH])))
        if nbad:
            _fail(
                f"column {obstype!r}: {nbad} row(s) are not 1 (snapshot), 2 (exact) or 3 (death)."
            )
    else:
        ot = np.full(len(st), OBS_SNAPSHOT, dtype=np.int64)
    death0 = np.asarray(exact_death_states, dtype=int) - 1
    ot = np.where(np.isin(st, death0), OBS_DEATH, ot)
    if obstrue:
        tr = df.get_column(obstrue).to_numpy().astype(bool)
    else:
        tr = np.zeros(len(st), dtype=bool)
    if covariates:
        x = np.column_stack([df.get_column(c).cast(pl.Float64).to_numpy() for c in covariates])
    else:
        x = np.zeros((len(st), 0))
    last = np.ones(len(st), dtype=bool)
    last[:-1] = subj_idx[:-1] != subj_idx[1:]
    # msm centres covariates at their means over the observations that start an interval
    # (every observation but each subject's last)
    if center and covariates and np.any(~last):
        means = x[~last].mean(axis=0)
    else:
        means = np.zeros(x.shape[1])
    ex = emeans = None
    if misc_covariates:
        ex = np.column_stack(
            [df.get_column(c).cast(pl.Float64).to_numpy() for c in misc_covariates]
        )
        # centred as the intensity covariates (msm centres both over the same rows)
        emeans = ex[~last].mean(axis=0) if center and np.any(~last) else np.zeros(ex.shape[1])
    source_row = df.get_column("__mt_row").to_numpy()
    if imputed:
        source_row = np.where(df.get_column(imputed).to_numpy(), 0, source_row)
    return PanelData(
        subject_index=subj_idx,
        time=t,
        state=st,
        obstype=ot,
        obstrue=tr,
        x=x,
        cov_means=means,
        source_row=source_row,
        censor_sets=cens_sets,
        n_subjects=int(subj_idx.max()) + 1 if len(subj_idx) else 0,
        ex=ex,
        ecov_means=emeans,
    )


def reachable(qmask: np.ndarray) -> np.ndarray:
    """reach[r, s]: state s can be reached from r in a positive time (P(t)[r, s] > 0)."""
    k = qmask.shape[0]
    reach = qmask.astype(bool) | np.eye(k, dtype=bool)
    for _ in range(k):
        reach = (reach.astype(int) @ reach.astype(int)) > 0
    return reach


def check_transitions(pd_: PanelData, qmask: np.ndarray, hidden: bool) -> None:
    """Raise if an observed transition is impossible under the qmatrix (rows listed, no ids)."""
    if hidden:
        return
    reach = reachable(qmask)
    r, s = pd_.state[:-1], pd_.state[1:]
    pair = ~pd_.last[:-1] & (r >= 0) & (s >= 0)
    ot = pd_.obstype[1:]
    # exact death: entered from some state k reachable from r with q_{k, s} > 0
    into = qmask.astype(bool)
    ok = np.ones(len(r), dtype=bool)
    snap = pair & (ot != OBS_DEATH) & (ot != OBS_EXACT)
    ok[snap] = reach[r[snap], s[snap]]
    ex = pair & (ot == OBS_EXACT)
    ok[ex] = (r[ex] == s[ex]) | into[r[ex], s[ex]]
    dth = pair & (ot == OBS_DEATH)
    if np.any(dth):
        can = (reach.astype(int) @ into.astype(int)) > 0
        ok[dth] = can[r[dth], s[dth]]
    bad = np.flatnonzero(~ok)
    if len(bad):
        rows = pd_.source_row[1:][bad]
        lines = [
            f"row {row}: {int(r[i]) + 1} -> {int(s[i]) + 1}"
            for row, i in zip(rows[:20], bad[:20], strict=False)
        ]
        more = f" (and {len(bad) - 20} more)" if len(bad) > 20 else ""
        raise ValueError(
            f"{len(bad)} observed transition(s) are impossible under the qmatrix{more}:\n  "
            + "\n  ".join(lines)
            + "\nHint: allow the transition in qmatrix, or check the state coding of those rows."
        )


def to_pairs(pd_: PanelData) -> PairData:
    """Consecutive-observation records, grouped into distinct combinations with counts."""
    keep = ~pd_.last
    i0 = np.flatnonzero(keep)
    i1 = i0 + 1
    z = pd_.z[i0]
    if z.shape[1]:
        zpat, pat = np.unique(z, axis=0, return_inverse=True)
    else:
        zpat, pat = np.zeros((1, 0)), np.zeros(len(i0), dtype=np.int64)
    pat = pat.ravel()
    rec = np.column_stack(
        [
            pd_.state[i0].astype(float),
            pd_.state[i1].astype(float),
            pd_.time[i1] - pd_.time[i0],
            pd_.obstype[i1].astype(float),
            pat.astype(float),
        ]
    )
    uniq, counts = np.unique(rec, axis=0, return_counts=True)
    return PairData(
        frm=uniq[:, 0].astype(np.int64),
        to=uniq[:, 1].astype(np.int64),
        dt=uniq[:, 2],
        obstype=uniq[:, 3].astype(np.int64),
        pattern=uniq[:, 4].astype(np.int64),
        count=counts.astype(float),
        z=zpat,
    )


def to_sequences(pd_: PanelData, n_states: int, hidden: bool) -> SeqData:
    """Padded per-subject sequences for the forward algorithm."""
    n = pd_.n_subjects
    counts = np.bincount(pd_.subject_index, minlength=n)
    jmax = int(counts.max()) if n else 0
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(len(pd_.time)) - start[pd_.subject_index]
    si = pd_.subject_index
    z = pd_.z
    if z.shape[1]:
        zpat, pat = np.unique(z, axis=0, return_inverse=True)
    else:
        zpat, pat = np.zeros((1, 0)), np.zeros(len(si), dtype=np.int64)
    dt = np.zeros((n, jmax))
    tt = np.zeros((n, jmax))
    tt[si, pos] = pd_.time
    dt[:, 1:] = np.diff(tt, axis=1)
    obstype = np.ones((n, jmax), dtype=np.int64)
    obstype[si, pos] = pd_.obstype
    emit = np.zeros((n, jmax, n_states))
    st = pd_.state
    obs_rows = np.flatnonzero(st >= 0)
    emit[si[obs_rows], pos[obs_rows], st[obs_rows]] = 1.0
    cen = np.flatnonzero(st < 0)
    if len(cen):
        emit[si[cen], pos[cen], :] = pd_.censor_sets[-st[cen] - 1]
    obstrue = np.zeros((n, jmax), dtype=bool)
    obstrue[si, pos] = pd_.obstrue
    pattern = np.zeros((n, jmax), dtype=np.int64)
    pattern[si, pos] = pat.ravel()
    death = np.full((n, jmax), -1, dtype=np.int64)
    dr = np.flatnonzero(pd_.obstype == OBS_DEATH)
    death[si[dr], pos[dr]] = st[dr]
    ez = None
    if pd_.ex is not None:
        ez = np.zeros((n, jmax, pd_.ex.shape[1]))
        ez[si, pos] = pd_.ez
    return SeqData(
        n_obs=counts,
        dt=dt,
        obstype=obstype,
        emit_set=emit,
        obstrue=obstrue,
        pattern=pattern,
        z=zpat,
        death_state=death,
        hidden=hidden,
        ez=ez,
    )


PCI_FLAG = "__pci_imputed"


def add_pci_rows(
    data,
    *,
    subject: str,
    time: str,
    state: str,
    covariates: Sequence[str],
    cuts: Sequence[float],
    code: int,
    extra_columns: Sequence[str],
) -> tuple[pl.DataFrame, list[str], np.ndarray]:
    """Piecewise-constant intensities the msm way (msm ``pci``).

    For every subject and cut point strictly inside the subject's follow-up, a censored
    observation ("in some transient state") is inserted at the cut time, unless the subject
    already has an observation then; covariates are carried forward from the previous
    observation.  A factor ``timeperiod`` (periods ``[-Inf, c1), [c1, c2), ...``, closed on the
    left as ``cut(right = FALSE)``) enters as dummy covariates for periods 2, 3, ....  Cut points
    outside (min time, max time) of the whole data set are dropped, as msm does.

    Returns the augmented frame, the dummy names and the cut points used.
    """
    df = to_polars(data).with_row_index("__mt_order")
    t_all = df.get_column(time).cast(pl.Float64)
    cuts = np.asarray(sorted(float(c) for c in cuts))
    cuts = cuts[(cuts > t_all.min()) & (cuts < t_all.max())]
    if len(cuts) == 0:
        raise ValueError("pci: no cut point lies strictly inside the range of observation times")
    first = df.group_by(subject, maintain_order=True).agg(
        pl.col("__mt_order").min().alias("__mt_first")
    )
    df = df.join(first, on=subject).sort(["__mt_first", time], maintain_order=True)
    sid = df.get_column("__mt_first").to_numpy()
    tt = df.get_column(time).cast(pl.Float64).to_numpy()
    starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
    ends = np.r_[starts[1:], len(sid)] - 1
    src, ctime = [], []
    for a, b in zip(starts, ends, strict=True):
        seg = tt[a : b + 1]
        for c in cuts:
            if seg[0] < c < seg[-1] and not np.any(seg == c):
                # carry forward from the last observation before the cut
                src.append(a + int(np.searchsorted(seg, c, side="right")) - 1)
                ctime.append(c)
    base = df.with_columns(pl.lit(False).alias(PCI_FLAG))
    extra = base[np.asarray(src, dtype=np.int64)] if src else base.head(0)
    extra = extra.with_columns(
        pl.Series(time, ctime, dtype=pl.Float64),
        pl.lit(code).cast(base.schema[state]).alias(state),
        pl.lit(True).alias(PCI_FLAG),
        *[pl.lit(0).cast(base.schema[c]).alias(c) for c in extra_columns],
    )
    out = pl.concat([base.with_columns(pl.col(time).cast(pl.Float64)), extra])
    out = out.sort(["__mt_first", time], maintain_order=True).drop("__mt_order", "__mt_first")
    period = np.searchsorted(cuts, out.get_column(time).to_numpy(), side="right")
    edges = [-np.inf, *cuts, np.inf]
    names = [f"timeperiod[{edges[i]:g},{edges[i + 1]:g})" for i in range(1, len(edges) - 1)]
    out = out.with_columns(
        [pl.Series(n, (period == i + 1).astype(float)) for i, n in enumerate(names)]
    )
    return out, names, cuts
