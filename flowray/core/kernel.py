"""The compiled inner loop of the Monte Carlo model: one pass per run, one step per period.

Why numba: a vectorised numpy loop spends most of its time compacting the set
of unfinished runs; a per-run compiled loop does one random draw, one gather
and one subtraction per simulated period (see BENCHMARKS.md for the numbers).
Every run draws its throughput from its own PCG32 stream, keyed by the
chunk's key (from SeedSequence(seed, chunk index)) and the run's index, so a
chunk still depends on (seed, chunk index) alone. A run draws its total work
(backlog, risks, split) and lead time from a second stream of its own, so two
scenarios that differ in any of those, or in throughput values, see the same
throughput draws run by run (common random numbers): more backlog never
finishes earlier, run by run, and what-if sweeps move smoothly.

Integers are drawn with Lemire's nearly-divisionless method with rejection,
so index draws are exactly uniform.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from flowray.core.kernel_args import ALIAS, BLOCK, NO_DEADLINE, PATH, UNIFORM

__all__ = ["ALIAS", "BLOCK", "NO_DEADLINE", "PATH", "UNIFORM", "run_how_many", "run_when"]

_MULT = np.uint64(6364136223846793005)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_LOW32 = np.uint64(0xFFFFFFFF)
_SCENARIO_SALT = np.uint64(0x5CE7A210D1A2C0DE)  # keys each run's second stream (scenario draws)


@njit(cache=True, inline="always")
def _mix64(z):  # pragma: no cover - compiled
    """SplitMix64's finaliser: a bijective 64-bit hash."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def run_stream(chunk_key, run):  # pragma: no cover - compiled
    """(state, increment) of run `run`'s own PCG32 stream; distinct increments = distinct streams."""
    r = np.uint64(run)
    state = _mix64(chunk_key + r * _GOLDEN)
    increment = (_mix64(chunk_key ^ _mix64(r + np.uint64(1))) << np.uint64(1)) | np.uint64(1)
    return state, increment


@njit(cache=True, inline="always")
def _step(state, increment):  # pragma: no cover - compiled
    """PCG32 (XSH-RR) on a state held in a register: (next state, 32 random bits)."""
    xorshifted = (((state >> np.uint64(18)) ^ state) >> np.uint64(27)) & _LOW32
    rot = state >> np.uint64(59)
    left = (np.uint64(32) - rot) & np.uint64(31)
    return state * _MULT + increment, ((xorshifted >> rot) | (xorshifted << left)) & _LOW32


@njit(cache=True, inline="always")
def _below(state, increment, n):  # pragma: no cover - compiled
    """(next state, exactly uniform integer in [0, n)): Lemire 2019, with rejection."""
    nn = np.uint64(n)
    state, bits = _step(state, increment)
    m = bits * nn
    low = m & _LOW32
    if low < nn:
        threshold = (np.uint64(0x100000000) - nn) % nn
        while low < threshold:
            state, bits = _step(state, increment)
            m = bits * nn
            low = m & _LOW32
    return state, np.int64(m >> np.uint64(32))


@njit(cache=True, inline="always")
def _unit(state, increment):  # pragma: no cover - compiled
    """(next state, a double in [0, 1) with 32 random bits): alias, block and risk decisions."""
    state, bits = _step(state, increment)
    return state, np.float64(bits) * (1.0 / 4294967296.0)


@njit(cache=True, inline="always")
def _unit53(state, increment):  # pragma: no cover - compiled
    """(next state, a double in [0, 1) with 53 random bits, from two outputs): continuous draws."""
    state, high = _step(state, increment)
    state, low = _step(state, increment)
    value = np.float64(high >> np.uint64(5)) * 67108864.0 + np.float64(low >> np.uint64(6))
    return state, value * (1.0 / 9007199254740992.0)


@njit(cache=True, inline="always")
def _triangular(u, low, mode, high):  # pragma: no cover - compiled
    """Inverse CDF of the triangular distribution at u (the formula numpy uses)."""
    span = high - low
    if u < (mode - low) / span:
        return low + np.sqrt(u * span * (mode - low))
    return high - np.sqrt((1.0 - u) * span * (high - mode))


@njit(cache=True, inline="always")
def _items_done(total, remaining):  # pragma: no cover - compiled
    """Whole items finished: all of them only when the run is done, else at most total - 1."""
    if remaining <= 0.0:
        return total
    done = np.floor(total - remaining + 1e-9)
    return done if done < total else total - 1.0


@njit(cache=True)
def run_when(n_runs, work, sampler, team, limits, chunk_key, counts):  # pragma: no cover - compiled
    """Simulate each run until its work is done (or the horizon); fill the histograms.

    A run first draws its total items (backlog, risks, split) and its lead time
    (a uniform pick of lead_choices, in periods; none when empty) from a second
    stream of its own, so its throughput draws are the same whatever the
    scenario's other inputs (common random numbers across what-if variants).

    periods_hist[w] counts runs done after w periods (lead time included);
    index max_periods + 1 counts runs not done within the horizon.
    fan_hist[w, b] counts runs still open after w x fan_stride periods with
    ceil(remaining / fan_bucket) == b. totals_hist[i] counts runs whose total work
    was in bucket i = (total - totals_offset) // totals_width. Returns the number of simulated run-periods.
    The inputs are kernel_args structures (WorkDraws, SamplerArgs, TeamArgs,
    RunLimits) and the outputs a WhenCounts; they are unpacked once here.
    """
    backlog_low, backlog_high, risks = work.backlog_low, work.backlog_high, work.risks
    split_low, split_high, split_samples = work.split_low, work.split_high, work.split_samples
    lead_choices = work.lead_choices
    values, alias_prob, alias_index = sampler.values, sampler.alias_prob, sampler.alias_index
    sampler_kind, restart_probability = sampler.kind, sampler.restart_probability
    history_size, focus, ramp = team.history_size, team.focus, team.ramp
    low_contributors, high_contributors = team.low_contributors, team.high_contributors
    max_periods, deadline_periods = limits.max_periods, limits.deadline_periods
    fan_bucket, fan_runs, effort_unit = limits.fan_bucket, limits.fan_runs, limits.effort_unit
    fan_stride = limits.fan_stride
    totals_offset, totals_width = limits.totals_offset, limits.totals_width
    effort_width, deadline_width = limits.effort_width, limits.deadline_width
    periods_hist, effort_hist, fan_hist = counts.periods, counts.effort, counts.fan
    deadline_items_hist, totals_hist = counts.deadline_items, counts.totals
    n_rows = values.shape[0]
    n_cols = values.shape[1]
    # scale = contributors / history_size * focus, in this order: the same float
    # arithmetic as tests/reference/reference_model.py, so runs whose throughput
    # lands exactly on the backlog are decided the same way.
    full_scale = high_contributors / history_size * focus
    per_person = focus / history_size
    slope = (high_contributors - low_contributors) / ramp if ramp > 0.0 else 0.0
    run_periods = 0
    fan_rows = fan_hist.shape[0] * fan_stride  # periods the fan covers
    fan_cols = fan_hist.shape[1]
    per_bucket = 1.0 / fan_bucket
    scenario_key = _mix64(chunk_key ^ _SCENARIO_SALT)
    fixed_total = (
        backlog_high == backlog_low
        and risks.shape[0] == 0
        and split_samples.shape[0] == 0
        and split_high == split_low
    )
    # Each run's total and lead first, in a pass of their own: with no loop exit
    # between runs there, the processor overlaps the runs' independent draws.
    # (Steps 1-4 of the model in docs/model.md: backlog, risks, split, lead time; risk impacts and the
    # split total rounded half to even. Both draws of a risk are always made, with no
    # branch on whether it fires: a 30% risk would mispredict a third of the time.)
    n_totals = 1 if fixed_total else n_runs
    run_totals = np.full(n_totals, np.rint(np.float64(backlog_low) * split_low))
    run_leads = np.zeros(n_runs if lead_choices.shape[0] > 0 else 1, dtype=np.int64)
    if not fixed_total or lead_choices.shape[0] > 0:
        for r in range(n_runs):
            state, increment = run_stream(scenario_key, r)
            if not fixed_total:
                items = np.float64(backlog_low)
                if backlog_high > backlog_low:
                    state, extra = _below(state, increment, backlog_high - backlog_low + 1)
                    items += np.float64(extra)
                for i in range(risks.shape[0]):
                    state, fires = _unit(state, increment)
                    state, u = _unit(state, increment)
                    impact = risks[i, 1]
                    if risks[i, 3] > risks[i, 1]:
                        impact = np.rint(_triangular(u, risks[i, 1], risks[i, 2], risks[i, 3]))
                    items += impact * np.float64(fires < risks[i, 0])
                if split_samples.shape[0] > 0:
                    state, pick = _below(state, increment, split_samples.shape[0])
                    items *= split_samples[pick]
                elif split_high > split_low:
                    state, u = _unit53(state, increment)
                    items *= split_low + (split_high - split_low) * u
                else:
                    items *= split_low
                run_totals[r] = np.rint(items)
            if lead_choices.shape[0] > 0:
                state, pick = _below(state, increment, lead_choices.shape[0])
                run_leads[r] = lead_choices[pick]
    for r in range(n_runs):
        state, increment = run_stream(chunk_key, r)
        total = run_totals[r if n_totals > 1 else 0]
        lead = run_leads[r if run_leads.shape[0] > 1 else 0]
        # no clamp needed: totals_offset is the least total a run can draw and the histogram
        # is sized past the most (engine.totals_layout)
        slot = np.int64(total) - totals_offset
        if totals_width > 1:  # only beyond TOTALS_BUCKETS: no division for an ordinary backlog
            slot //= totals_width
        totals_hist[slot] += 1
        fan_limit = fan_rows if r < fan_runs else 0  # the fan follows the first fan_runs runs
        # the S-curve's phases as thresholds on the remaining work (no division per period),
        # and its contributors as a + b * remaining: ramp-up low + slope * (done share),
        # ramp-down low + slope * (remaining share)
        ramp_up_above = total * (1.0 - ramp)
        ramp_down_below = total * ramp
        up_a = low_contributors + slope
        up_b = down_b = 0.0
        if ramp > 0.0 and total > 0.0:
            down_b = slope / total
            up_b = -down_b
        remaining = total
        week = 0
        effort = 0.0
        position = 0
        if sampler_kind == BLOCK or sampler_kind == PATH:
            state, position = _below(state, increment, n_cols)
        work_deadline = deadline_periods - lead
        items_by_deadline = -1.0
        if deadline_periods != NO_DEADLINE and work_deadline <= 0:
            items_by_deadline = 0.0
        while remaining > 0.0 and week < max_periods:
            # The draw is written out here and in run_how_many on purpose: factoring it
            # into an inlined function that takes the arrays made the loop 3.5x slower
            # (numba then updates the arrays' reference counts on every call).
            row = week if week < n_rows else n_rows - 1
            if sampler_kind == UNIFORM:
                state, col = _below(state, increment, n_cols)
                draw = values[row, col]
            elif sampler_kind == ALIAS:
                state, col = _below(state, increment, n_cols)
                state, coin = _unit(state, increment)
                if coin >= alias_prob[row, col]:
                    col = alias_index[row, col]
                draw = values[row, col]
            elif sampler_kind == BLOCK:
                if week > 0:
                    position += 1
                    restart = position >= n_cols
                    if not restart:
                        state, coin = _unit(state, increment)
                        restart = coin < restart_probability
                    if restart:
                        state, position = _below(state, increment, n_cols)
                draw = values[0, position]
            elif week < n_rows:  # PATH: the run's own path while it lasts
                draw = values[week, position]
            else:  # PATH beyond its rows: independent draws of the last row
                state, col = _below(state, increment, n_cols)
                draw = values[row, col]
            if ramp > 0.0:
                # contributors = a + b * remaining in every phase of the S-curve, so the
                # period's update is remaining * (1 - t b) - t a with t = draw * per_person:
                # one multiply-add on the loop-carried value instead of a chain of five.
                if remaining > ramp_up_above:
                    a, b = up_a, up_b
                elif remaining < ramp_down_below:
                    a, b = low_contributors, down_b
                else:
                    a, b = high_contributors, 0.0
                effort += a + b * remaining
                t = draw * per_person
                remaining = remaining * (1.0 - t * b) - t * a
            else:
                remaining -= draw * full_scale
            week += 1
            if week == work_deadline:
                items_by_deadline = _items_done(total, remaining)
            if remaining > 0.0 and week < fan_limit:
                if fan_stride == 1 or week % fan_stride == 0:
                    bucket = np.int64(np.ceil(remaining * per_bucket))
                    if bucket >= fan_cols:
                        bucket = fan_cols - 1
                    fan_hist[week // fan_stride, bucket] += 1
        run_periods += week
        if ramp == 0.0:
            effort = high_contributors * week  # a whole team every period
        if remaining > 0.0:
            periods_hist[max_periods + 1] += 1
        else:
            periods_hist[week + lead] += 1
        if deadline_periods != NO_DEADLINE:
            if items_by_deadline < 0.0:
                # the work finished (or the horizon came) before the deadline period
                items_by_deadline = _items_done(total, remaining)
            done = np.int64(items_by_deadline)
            if deadline_width > 1:
                done //= deadline_width
            deadline_items_hist[done] += 1
        unit = np.int64(np.rint(effort * effort_unit))
        if effort_width > 1:
            unit //= effort_width
        if unit >= effort_hist.shape[0]:
            unit = effort_hist.shape[0] - 1
        effort_hist[unit] += 1
    return run_periods


@njit(cache=True)
def run_how_many(
    n_runs, periods, sampler, scale, chunk_key, items_hist, items_width
):  # pragma: no cover - compiled
    """Items completed in `periods` periods, per run: floor of the scaled draws' sum.

    items_hist[i] counts the runs with i * items_width .. i * items_width + items_width - 1 items.
    """
    values, alias_prob, alias_index = sampler.values, sampler.alias_prob, sampler.alias_index
    sampler_kind, restart_probability = sampler.kind, sampler.restart_probability
    n_rows = values.shape[0]
    n_cols = values.shape[1]
    for r in range(n_runs):
        state, increment = run_stream(chunk_key, r)
        done = 0.0
        position = 0
        if sampler_kind == BLOCK or sampler_kind == PATH:
            state, position = _below(state, increment, n_cols)
        for week in range(periods):
            row = week if week < n_rows else n_rows - 1
            if sampler_kind == UNIFORM:
                state, col = _below(state, increment, n_cols)
                draw = values[row, col]
            elif sampler_kind == ALIAS:
                state, col = _below(state, increment, n_cols)
                state, coin = _unit(state, increment)
                if coin >= alias_prob[row, col]:
                    col = alias_index[row, col]
                draw = values[row, col]
            elif sampler_kind == BLOCK:
                if week > 0:
                    position += 1
                    restart = position >= n_cols
                    if not restart:
                        state, coin = _unit(state, increment)
                        restart = coin < restart_probability
                    if restart:
                        state, position = _below(state, increment, n_cols)
                draw = values[0, position]
            elif week < n_rows:  # PATH: the run's own path while it lasts
                draw = values[week, position]
            else:  # PATH beyond its rows: independent draws of the last row
                state, col = _below(state, increment, n_cols)
                draw = values[row, col]
            done += draw * scale
        items = np.int64(np.floor(done + 1e-9))
        if items_width > 1:
            items //= items_width
        if items >= items_hist.shape[0]:
            items = items_hist.shape[0] - 1
        items_hist[items] += 1
    return n_runs * periods


@njit(cache=True)
def stream_u32(chunk_key, run, n):  # pragma: no cover - compiled
    """The first n 32-bit outputs of a run's stream (for tests of the generator itself)."""
    state, increment = run_stream(chunk_key, run)
    out = np.empty(n, dtype=np.uint64)
    for i in range(n):
        state, out[i] = _step(state, increment)
    return out


@njit(cache=True)
def draws_below(chunk_key, run, bound, n):  # pragma: no cover - compiled
    """n exact-uniform integers in [0, bound) from a run's stream (for uniformity tests)."""
    state, increment = run_stream(chunk_key, run)
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        state, out[i] = _below(state, increment, bound)
    return out
