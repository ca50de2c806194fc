"""The compiled loop of a portfolio forecast: one pass per run, one step per period and team.

Every random number of run r comes from PCG32 streams keyed by the chunk's key
(from SeedSequence(seed, chunk index)) and r, as in the single-backlog kernel,
so a chunk depends on (portfolio, seed, chunk index) alone. A run has one
stream for its feature sizes and, per team, three of its own: throughput
draws, the thinning of blacked-out periods, and the choice of the feature an
item goes to. So a team's throughput draws are the same run by run whatever
the sizes, the order, the WIP or the other teams (common random numbers).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from flowray.core.kernel import _below, _mix64, _unit, run_stream

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SIZE_SALT = np.uint64(0x51CE5F0A7E11D00D)
_THROUGHPUT_SALT = np.uint64(0x7E4A3D2C1B0A9988)
_THINNING_SALT = np.uint64(0x0DDBA11C0FFEE123)
_CHOICE_SALT = np.uint64(0x3C6EF372FE94F82B)


@njit(cache=True, inline="always")
def _team_key(chunk_key, salt, team):  # pragma: no cover - compiled
    """The key of one team's stream family (throughput, thinning or choice)."""
    return _mix64(chunk_key ^ _mix64(salt + np.uint64(team) * _GOLDEN))


@njit(cache=True)
def run_portfolio(n_runs, chunk_key, teams, features, limits, counts):  # pragma: no cover
    """Simulate n_runs runs of a portfolio; add each run to the integer histograms.

    teams = (values (T, L) int64, lengths (T,), alias_prob (T, L), alias_index (T, L),
    uses_alias (T,) bool, active (T,) bool, wip (T,), capacity (T, max_periods));
    features = (mode (F,), part_low (F, T), part_high (F, T), total_low (F,),
    total_high (F,), done (F,), members (F, T) team indices in order, member_count (F,),
    past_sizes (S,), needed (F,) bool); limits = (max_periods, target_periods or -1);
    counts = (completion (F, max_periods + 2), prefix (F, max_periods + 2), by_target (F + 1,)).

    completion[f, w] counts runs in which feature f was done after w periods (index
    max_periods + 1: not done within the horizon); prefix[f, w] counts runs in which
    features 0..f were all done after w periods (the latest of them); by_target[n]
    counts runs with n features done by the target. Returns the simulated periods.
    """
    values, lengths, alias_prob, alias_index, uses_alias, active, wip, capacity = teams
    (
        mode,
        part_low,
        part_high,
        total_low,
        total_high,
        done_items,
        members,
        member_count,
        past_sizes,
        needed,
    ) = features
    max_periods, target_periods = limits
    completion, prefix, by_target = counts
    n_teams = values.shape[0]
    n_features = mode.shape[0]
    remaining = np.zeros((n_features, n_teams), dtype=np.int64)
    team_left = np.zeros(n_teams, dtype=np.int64)
    open_parts = np.zeros(n_features, dtype=np.int64)
    done_at = np.zeros(n_features, dtype=np.int64)
    pointer = np.zeros(n_teams, dtype=np.int64)
    candidates = np.zeros(n_features, dtype=np.int64)
    t_state = np.zeros(n_teams, dtype=np.uint64)
    t_inc = np.zeros(n_teams, dtype=np.uint64)
    h_state = np.zeros(n_teams, dtype=np.uint64)
    h_inc = np.zeros(n_teams, dtype=np.uint64)
    c_state = np.zeros(n_teams, dtype=np.uint64)
    c_inc = np.zeros(n_teams, dtype=np.uint64)
    size_key = _mix64(chunk_key ^ _SIZE_SALT)
    run_periods = 0
    for r in range(n_runs):
        # 1. this run's remaining work per feature and team
        state, increment = run_stream(size_key, r)
        team_left[:] = 0
        for f in range(n_features):
            for t in range(n_teams):
                remaining[f, t] = 0
            if mode[f] == 0:  # per-team items (a range is drawn per team, in team order)
                for j in range(member_count[f]):
                    t = members[f, j]
                    items = part_low[f, t]
                    if part_high[f, t] > items:
                        state, extra = _below(state, increment, part_high[f, t] - items + 1)
                        items += extra
                    remaining[f, t] = items
            else:
                if mode[f] == 1:  # a whole-feature range
                    total = total_low[f]
                    if total_high[f] > total:
                        state, extra = _below(state, increment, total_high[f] - total + 1)
                        total += extra
                else:  # unknown: one of the past feature sizes
                    state, pick = _below(state, increment, past_sizes.shape[0])
                    total = past_sizes[pick]
                total -= done_items[f]
                if total < 0:
                    total = 0
                k = member_count[f]
                base = total // k
                extra = total - base * k
                for j in range(k):
                    remaining[f, members[f, j]] = base + (1 if j < extra else 0)
            open_parts[f] = 0
            for t in range(n_teams):
                if remaining[f, t] > 0:
                    open_parts[f] += 1
                    team_left[t] += remaining[f, t]
            done_at[f] = 0 if open_parts[f] == 0 else -1
        still_needed = 0
        for f in range(n_features):
            if needed[f] and open_parts[f] > 0:
                still_needed += 1
        for t in range(n_teams):
            pointer[t] = 0
            t_state[t], t_inc[t] = run_stream(_team_key(chunk_key, _THROUGHPUT_SALT, t), r)
            h_state[t], h_inc[t] = run_stream(_team_key(chunk_key, _THINNING_SALT, t), r)
            c_state[t], c_inc[t] = run_stream(_team_key(chunk_key, _CHOICE_SALT, t), r)
        # 2. period by period, each team draws its throughput and spends it down the list
        period = 0
        while still_needed > 0 and period < max_periods:
            for t in range(n_teams):
                if not active[t] or team_left[t] == 0:
                    continue
                s, inc = t_state[t], t_inc[t]
                s, col = _below(s, inc, lengths[t])
                if uses_alias[t]:
                    s, coin = _unit(s, inc)
                    if coin >= alias_prob[t, col]:
                        col = alias_index[t, col]
                t_state[t] = s
                items = values[t, col]
                share = capacity[t, period]
                if share <= 0.0:
                    items = 0
                elif share < 1.0:  # binomial thinning: each item survives with the open share
                    s, inc = h_state[t], h_inc[t]
                    kept = 0
                    for _ in range(items):
                        s, u = _unit(s, inc)
                        if u < share:
                            kept += 1
                    h_state[t] = s
                    items = kept
                while items > 0 and team_left[t] > 0:
                    first = pointer[t]
                    while remaining[first, t] == 0:
                        first += 1
                    pointer[t] = first
                    if wip[t] == 1:
                        f = first
                        take = min(items, remaining[f, t])
                    else:
                        n_cand = 0
                        g = first
                        while n_cand < wip[t] and g < n_features:
                            if remaining[g, t] > 0:
                                candidates[n_cand] = g
                                n_cand += 1
                            g += 1
                        if n_cand == 1:
                            f = candidates[0]
                            take = min(items, remaining[f, t])
                        else:
                            s, inc = c_state[t], c_inc[t]
                            s, pick = _below(s, inc, n_cand)
                            c_state[t] = s
                            f = candidates[pick]
                            take = 1
                    remaining[f, t] -= take
                    team_left[t] -= take
                    items -= take
                    if remaining[f, t] == 0:
                        open_parts[f] -= 1
                        if open_parts[f] == 0:
                            done_at[f] = period + 1
                            if needed[f]:
                                still_needed -= 1
            period += 1
        run_periods += period
        # 3. the run's completion periods, the prefix maxima and the count by the target
        latest = 0
        by_target_count = 0
        for f in range(n_features):
            w = done_at[f] if done_at[f] >= 0 else max_periods + 1
            completion[f, w] += 1
            if w > latest:
                latest = w
            prefix[f, latest] += 1
            if target_periods >= 0 and w <= target_periods:
                by_target_count += 1
        by_target[by_target_count] += 1
    return run_periods
