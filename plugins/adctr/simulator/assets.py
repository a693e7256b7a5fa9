"""The asset world: each ad group's headlines, descriptions and images, their drifting latent
effects, the creatives launched from them over time, and the latent part of any combination.

Kept apart from world.py (which adds the static attributes, fatigue and the daily draws) so
the generative model there stays readable. Everything is vectorised numpy over flat arrays:
building a world of thousands of ad groups, or the truth of ten million combinations, takes
seconds. Layout: asset `a` of ad group `g` is `g * A + offset[type] + (n - 1)` with
`A = headlines + descriptions + images` per ad group and n its number in launch order.
"""

from __future__ import annotations

import functools
import hashlib
import math
import statistics
from dataclasses import dataclass

import numpy as np

ASSET_TYPES = ("HEADLINE", "DESCRIPTION", "IMAGE")
ASSET_KEYS = ("headline", "description", "image")  # config names, same order
ASSET_PREFIX = ("h", "d", "i")  # asset ids: {ad_group_id}-h{n}
NEVER = np.iinfo(np.int64).max  # end ordinal of a creative that never retires

HEADLINE_PARTS = (
    ("今だけ", "限定", "新登場", "人気の", "話題の", "公式", "待望の"),
    ("スマホ", "旅行", "投資", "英会話", "ゲーム", "家電", "保険", "プログラミング"),
    ("セール開催中", "無料体験", "最大50%オフ", "今すぐチェック", "初回特典あり", "送料無料", ""),
)
DESCRIPTION_PARTS = (
    (
        "お申し込みは簡単",
        "詳しくはこちら",
        "期間限定のご案内",
        "ご好評につき延長",
        "はじめての方も安心",
    ),
    ("。", "。今すぐ公式サイトへ。", "。比較してお選びください。", "。数量に限りがあります。"),
)


def stream_seed(*parts: object) -> int:
    """A stable 64-bit seed from any parts (Python's hash() is salted per process)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def splitmix64(x: np.ndarray) -> np.ndarray:
    """A well-mixed 64-bit hash of each uint64 (the splitmix64 finaliser)."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


@functools.cache
def _normal_quantiles() -> np.ndarray:
    """2^16 standard normal quantiles: a hash's 16 bits pick one (a normal to 1/65536)."""
    dist = statistics.NormalDist()
    return np.array([dist.inv_cdf((k + 0.5) / 65536) for k in range(65536)], dtype=np.float32)


def hashed_normals(key: np.ndarray, salt: int) -> tuple[np.ndarray, np.ndarray]:
    """Two independent standard normals per uint64 key, a pure function of (key, salt)."""
    x = splitmix64(key ^ np.uint64(salt & 0xFFFFFFFFFFFFFFFF))
    q = _normal_quantiles()
    return q[(x >> np.uint64(48)).astype(np.intp)], q[
        ((x >> np.uint64(32)) & np.uint64(0xFFFF)).astype(np.intp)
    ]


@dataclass(frozen=True)
class EffectSds:
    """Latent effect sds on the logit scale: per asset type, the (headline, image) pair, the
    per-combination residual, and the advertiser's and ad group's own level (brand, landing
    page), which every creative of theirs shares."""

    headline: float
    description: float
    image: float
    pair: float
    combination: float
    advertiser: float = 0.0
    ad_group: float = 0.0

    @classmethod
    def from_config(cls, raw: dict[str, float]) -> EffectSds:
        return cls(**{k: float(v) for k, v in raw.items()})

    def by_type(self) -> np.ndarray:
        return np.array([self.headline, self.description, self.image])


class AssetLibrary:
    """Every ad group's assets: type, text or format, launch day and drifting latent effects.

    Effects are `sd[type] * z(t)` with z a unit-variance AR(1) at weekly knots, interpolated
    linearly between them: each week z moves by `drift` (sd per sqrt(week), in units of the
    type's sd) and reverts towards 0 just enough that its spread stays put (z_k+1 = rho z_k +
    drift e, rho = sqrt(1 - drift^2)). So an asset's history goes stale: the correlation of
    its effect across k weeks is rho^k.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        n_groups: int,
        counts: tuple[int, int, int],
        first_ordinal: int,
        last_old_ordinal: int,
        start_ordinal: int,
        horizon_days: int,
        new_asset_share: float,
        ctr_sd: EffectSds,
        cvr_sd: EffectSds,
        drift_sd_per_sqrt_week: float,
        always_old: int = 1,
        group_launch_ordinal: np.ndarray | None = None,
    ) -> None:
        if min(counts) < 1:
            raise ValueError(f"every ad group needs at least one asset of each type, got {counts}")
        if not 0.0 <= drift_sd_per_sqrt_week < 1.0:
            raise ValueError("drift_sd_per_sqrt_week is in units of the effect's sd: 0 <= it < 1")
        self.counts = counts
        self.per_group = sum(counts)
        self.offsets = (0, counts[0], counts[0] + counts[1])
        a = self.per_group
        n = n_groups * a
        self.group = np.repeat(np.arange(n_groups), a)
        local_type = np.repeat(np.arange(3), counts)
        self.type = np.tile(local_type, n_groups)
        self.number = np.tile(np.concatenate([np.arange(1, c + 1) for c in counts]), n_groups)

        # Launch days: most assets before any creative (old), a share spread over the horizon.
        # The first `always_old` of each type are old, so every ad group starts with enough
        # combinations (k^3 >= 2 x its creative slots) to fill its slots from day one.
        is_new = (rng.random(n) < new_asset_share) & (self.number > always_old)
        old = rng.integers(first_ordinal, last_old_ordinal + 1, size=n)
        new = start_ordinal + rng.integers(1, max(2, horizon_days + 1), size=n)
        launch = np.where(is_new, new, old).reshape(n_groups, a)
        for t, c in zip(self.offsets, counts):  # numbered in launch order within each type
            launch[:, t : t + c] = np.sort(launch[:, t : t + c], axis=1)
        launch[:, list(self.offsets)] = np.minimum(launch[:, list(self.offsets)], first_ordinal)
        if group_launch_ordinal is not None:  # an ad group's library launches with it, or later
            launch = np.maximum(launch, np.asarray(group_launch_ordinal)[:, None])
        self.launch_ordinal = launch.reshape(-1)

        parts = [rng.integers(len(p), size=n) for p in HEADLINE_PARTS]
        dparts = [rng.integers(len(p), size=n) for p in DESCRIPTION_PARTS]
        self.format = rng.integers(3, size=n)  # index into world.FORMATS; used for images
        text = np.full(n, None, dtype=object)
        for i in np.flatnonzero(self.type == 0):
            text[i] = "".join(HEADLINE_PARTS[j][parts[j][i]] for j in range(3))
        for i in np.flatnonzero(self.type == 1):
            text[i] = "".join(DESCRIPTION_PARTS[j][dparts[j][i]] for j in range(2))
        self.text = text
        self.length = np.array([len(s) if s is not None else 0 for s in text])

        self.first_ordinal = first_ordinal
        weeks = math.ceil((start_ordinal + horizon_days - first_ordinal) / 7) + 2
        rho = math.sqrt(1.0 - drift_sd_per_sqrt_week**2)
        self.knots_ctr = self._walk(rng, n, weeks, rho, drift_sd_per_sqrt_week, ctr_sd.by_type())
        self.knots_cvr = self._walk(rng, n, weeks, rho, drift_sd_per_sqrt_week, cvr_sd.by_type())
        self.pair_ctr = rng.normal(0.0, ctr_sd.pair, size=(n_groups, counts[0], counts[2]))
        self.pair_cvr = rng.normal(0.0, cvr_sd.pair, size=(n_groups, counts[0], counts[2]))
        self.combination_sd = (ctr_sd.combination, cvr_sd.combination)

    def _walk(
        self, rng: np.random.Generator, n: int, weeks: int, rho: float, step: float, sd: np.ndarray
    ) -> np.ndarray:
        """Knots, shape (weeks, assets): each row is every asset's effect on that week's day."""
        z = rng.standard_normal((weeks, n), dtype=np.float32)
        z[1:] *= np.float32(step)
        for k in range(1, weeks):
            z[k] += np.float32(rho) * z[k - 1]
        return z * sd[self.type].astype(np.float32)

    def index(self, group: np.ndarray, type_index: int, number: np.ndarray) -> np.ndarray:
        """Global asset index of asset `number` (1-based) of one type in each ad group."""
        return group * self.per_group + self.offsets[type_index] + number - 1

    def at(self, knots: np.ndarray, ordinal: int) -> np.ndarray:
        """Weekly knots (weeks, n) read on one day: linear between the knots either side."""
        f = (ordinal - self.first_ordinal) / 7.0
        k = int(min(max(math.floor(f), 0), knots.shape[0] - 2))
        w = min(max(f - k, 0.0), 1.0)
        return (1 - w) * knots[k].astype(float) + w * knots[k + 1]

    def effects_at(self, ordinal: int) -> tuple[np.ndarray, np.ndarray]:
        """(CTR, CVR) latent effect of every asset on one day (linear between weekly knots)."""
        return self.at(self.knots_ctr, ordinal), self.at(self.knots_cvr, ordinal)

    def _effects(
        self, ordinal: int, static_ctr: np.ndarray | None, static_cvr: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        eff_ctr, eff_cvr = self.effects_at(ordinal)
        if static_ctr is not None:
            eff_ctr += static_ctr
        if static_cvr is not None:
            eff_cvr += static_cvr
        return eff_ctr, eff_cvr

    def _key(self, g: np.ndarray, hn: np.ndarray, dn: np.ndarray, im: np.ndarray) -> np.ndarray:
        """The residual's hash key: ad group index and the three asset numbers (so the key of a
        combination is its ids', whatever the library sizes)."""
        u = np.uint64
        return (
            (g.astype(u) << u(36))
            | (hn.astype(u) << u(24))
            | (dn.astype(u) << u(12))
            | im.astype(u)
        )

    def latent(
        self,
        ordinal: int,
        seed: int,
        h: np.ndarray,
        d: np.ndarray,
        i: np.ndarray,
        static_ctr: np.ndarray | None = None,
        static_cvr: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Latent (CTR, CVR) logit of combinations (global asset indices) on one day: the three
        assets' effects, the (headline, image) pair and the per-combination residual. Optional
        per-asset static terms are added with the effects (no extra gathers). Same arithmetic,
        in the same order, as `grid_latent`, so both give identical floats."""
        eff_ctr, eff_cvr = self._effects(ordinal, static_ctr, static_cvr)
        g = self.group[h]
        hn, dn, im = self.number[h], self.number[d], self.number[i]
        pair = (g * self.counts[0] + hn - 1) * self.counts[2] + im - 1
        z_ctr, z_cvr = hashed_normals(self._key(g, hn, dn, im), _salt(seed, "combination"))
        ctr = eff_ctr[h] + eff_ctr[d] + eff_ctr[i] + self.pair_ctr.reshape(-1)[pair]
        ctr += self.combination_sd[0] * z_ctr
        cvr = eff_cvr[h] + eff_cvr[d] + eff_cvr[i] + self.pair_cvr.reshape(-1)[pair]
        cvr += self.combination_sd[1] * z_cvr
        return ctr, cvr

    def _grid_residuals(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Standard normal residual draws of every combination, shape (groups, H, D, I), float32
        (the quantile table's values, so they equal `hashed_normals`'); cached: they never change."""
        if getattr(self, "_residual_cache", None) is None or self._residual_cache[0] != seed:
            nh, nd, ni = self.counts
            g = np.arange(len(self.group) // self.per_group)[:, None, None, None]
            key = self._key(
                g,
                np.arange(1, nh + 1)[:, None, None],
                np.arange(1, nd + 1)[:, None],
                np.arange(1, ni + 1),
            )
            z_ctr, z_cvr = hashed_normals(key.reshape(-1), _salt(seed, "combination"))
            shape = (len(g), nh, nd, ni)
            self._residual_cache = (seed, z_ctr.reshape(shape), z_cvr.reshape(shape))
        return self._residual_cache[1], self._residual_cache[2]

    def grid_latent(
        self,
        ordinal: int,
        seed: int,
        groups: np.ndarray,
        static_ctr: np.ndarray | None = None,
        static_cvr: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Latent (CTR, CVR) of every combination of launched assets of the listed ad groups, in
        (ad group, h, d, i) order, with their global asset indices (h, d, i). Computed on the
        full (groups, H, D, I) grid by broadcasting (no gathers), then the launched kept."""
        nh, nd, ni = self.counts
        o_d, o_i = self.offsets[1], self.offsets[2]
        eff_ctr, eff_cvr = self._effects(ordinal, static_ctr, static_cvr)
        shape = (len(groups), nh, nd, ni)
        gi = groups.astype(np.int64)
        ax = (
            np.arange(nh)[None, :, None, None],
            np.arange(nd)[None, None, :, None],
            np.arange(ni)[None, None, None, :],
        )
        g4 = gi[:, None, None, None]
        z_ctr, z_cvr = (z[gi].reshape(-1) for z in self._grid_residuals(seed))
        launched = (self.launch_ordinal <= ordinal).reshape(-1, self.per_group)[gi]
        mask = (
            launched[:, :nh, None, None] & launched[:, None, o_d : o_d + nd, None]
            & launched[:, None, None, o_i : o_i + ni]
        ).reshape(-1)  # fmt: skip
        out = []
        for eff, pair, sd, z in (
            (eff_ctr, self.pair_ctr, self.combination_sd[0], z_ctr),
            (eff_cvr, self.pair_cvr, self.combination_sd[1], z_cvr),
        ):
            e = eff.reshape(-1, self.per_group)[gi]
            v = (
                e[:, :nh, None, None]
                + e[:, None, o_d : o_d + nd, None]
                + e[:, None, None, o_i : o_i + ni]
            )
            v = (v + pair[gi][:, :, None, :]).reshape(-1)[mask]
            v += sd * z[mask]
            out.append(v)
        base = g4 * self.per_group
        index = tuple(
            np.broadcast_to(base + off + a, shape).reshape(-1)[mask]
            for off, a in zip(self.offsets, ax)
        )
        return out[0], out[1], self.group[index[0]], index

    def combination_code(self, h: np.ndarray, d: np.ndarray, i: np.ndarray) -> np.ndarray:
        """One int64 per combination of global asset indices (unique across the world)."""
        m = np.int64(len(self.group))
        return (h.astype(np.int64) * m + d) * m + i


def drifting_levels(
    rng: np.random.Generator, start: np.ndarray, sd: float, weeks: int, drift: float
) -> np.ndarray:
    """Knots, shape (weeks, len(start)): levels that begin at `start` (drawn at `sd`) and drift
    like asset effects, a mean-reverting walk whose spread stays `sd`."""
    rho = np.float32(math.sqrt(1.0 - drift**2))
    out = np.empty((weeks, len(start)), dtype=np.float32)
    out[0] = start
    steps = rng.standard_normal((weeks, len(start)), dtype=np.float32) * np.float32(drift * sd)
    for k in range(1, weeks):
        out[k] = rho * out[k - 1] + steps[k]
    return out


def _salt(seed: int, name: str) -> int:
    return stream_seed(seed, name)


@dataclass(frozen=True)
class Creatives:
    """Creatives (combinations that serve), ordered by (ad group, number in launch order)."""

    group: np.ndarray
    number: np.ndarray  # creative_id = {ad_group_id}-cr{number}
    headline: np.ndarray  # global asset indices
    description: np.ndarray
    image: np.ndarray
    launch_ordinal: np.ndarray
    end_ordinal: np.ndarray  # first day it no longer serves; NEVER if it never retires
    # Launches that found no unused combination (the slot's creative served on instead): a
    # world whose lifetimes are short for its asset library turns over less than configured.
    used_up_launches: int = 0


def schedule_creatives(
    rng: np.random.Generator,
    library: AssetLibrary,
    n_groups: int,
    slots: int,
    lifetime_days: float,
    start_ordinal: int,
    horizon_days: int,
    explore_share: float,
    group_launch_ordinal: np.ndarray | None = None,
) -> Creatives:
    """Creatives over time: each ad group runs `slots` creatives at once; each retires after a
    lifetime (uniform in 0.5..1.5 x `lifetime_days`) and a new combination of launched assets,
    never used before in the ad group, takes its place the same day (see `_choose_combinations`
    for how its assets are picked). So creatives launch at
    slots / lifetime_days per ad group per day and the active count stays at `slots`. The
    last creative of a slot in the horizon never retires. If every launched combination of an
    ad group is used up, the slot's creative serves on until the next launch. An ad group whose
    `group_launch_ordinal` is after `start_ordinal` fills its slots on that day.
    """
    lo = max(1, round(0.5 * lifetime_days))
    hi = max(lo, round(1.5 * lifetime_days))
    n_slots = n_groups * slots
    k_max = math.ceil((horizon_days + hi) / lo) + 2
    life = rng.integers(lo, hi + 1, size=(n_slots, k_max))
    served_before_start = (rng.random(n_slots) * life[:, 0]).astype(np.int64)
    steps = np.concatenate(
        [np.zeros((n_slots, 1), np.int64), np.cumsum(life[:, :-1], axis=1)], axis=1
    )
    first_launch = start_ordinal - served_before_start
    if group_launch_ordinal is not None:
        opens = np.asarray(group_launch_ordinal)[np.arange(n_slots) // slots]
        first_launch = np.where(opens > start_ordinal, opens, first_launch)
    launch = first_launch[:, None] + steps
    keep = launch <= start_ordinal + horizon_days
    slot = np.broadcast_to(np.arange(n_slots)[:, None], launch.shape)[keep]
    launch = launch[keep]
    group = slot // slots
    order = np.lexsort((slot, launch, group))
    slot, launch, group = slot[order], launch[order], group[order]
    first = np.searchsorted(group, np.arange(n_groups))
    rank = np.arange(len(group)) - first[group]

    h_num, d_num, i_num = _choose_combinations(rng, library, group, launch, rank, explore_share)
    ok = h_num > 0
    slot, launch, group = slot[ok], launch[ok], group[ok]
    h_num, d_num, i_num = h_num[ok], d_num[ok], i_num[ok]
    by_slot = np.lexsort((launch, slot))
    nxt = np.full(len(slot), NEVER, dtype=np.int64)
    same = slot[by_slot][1:] == slot[by_slot][:-1]
    nxt_sorted = np.where(same, launch[by_slot][1:], NEVER)
    nxt[by_slot[:-1]] = nxt_sorted
    first = np.searchsorted(group, np.arange(n_groups))
    number = np.arange(len(group)) - first[group] + 1
    return Creatives(
        group=group, number=number,
        headline=library.index(group, 0, h_num), description=library.index(group, 1, d_num),
        image=library.index(group, 2, i_num), launch_ordinal=launch, end_ordinal=nxt,
        used_up_launches=int((~ok).sum()),
    )  # fmt: skip


def _choose_combinations(
    rng: np.random.Generator,
    library: AssetLibrary,
    group: np.ndarray,
    launch: np.ndarray,
    rank: np.ndarray,
    explore_share: float,
    tries: int = 24,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Asset numbers (h, d, i) per creative: a combination the ad group never used (0 where
    none is left). Each of the three is drawn, with chance `explore_share`, from every launched
    asset of its type, else from those the ad group's earlier creatives served (as advertisers
    recombine proven assets), so assets build up history. One pass per launch rank, vectorised
    over ad groups: a group has one creative per rank, so a pass never collides with itself."""
    nh_max, nd_max, ni_max = library.counts
    n_groups = int(group.max()) + 1 if len(group) else 0
    a = library.per_group
    launch_by_type = [
        library.launch_ordinal.reshape(-1, a)[:, t : t + c]
        for t, c in zip(library.offsets, library.counts)
    ]
    used = np.zeros((n_groups, nh_max * nd_max * ni_max), dtype=bool)
    served = [np.zeros((n_groups, c), dtype=bool) for c in library.counts]
    out = np.zeros((3, len(group)), dtype=np.int64)
    for r in range(int(rank.max()) + 1 if len(rank) else 0):
        rows = np.flatnonzero(rank == r)
        g, t = group[rows], launch[rows]
        avail = np.stack([(lt[g] <= t[:, None]).sum(axis=1) for lt in launch_by_type])
        pending = np.arange(len(rows))
        for _ in range(tries):
            if not len(pending):
                break
            pick = (rng.random((3, len(pending))) * avail[:, pending]).astype(np.int64)
            for k in range(3):
                proven = served[k][g[pending]]
                keys = np.where(proven, rng.random(proven.shape), -1.0)
                reuse = (rng.random(len(pending)) >= explore_share) & proven.any(axis=1)
                pick[k] = np.where(reuse, keys.argmax(axis=1), pick[k])
            code = (pick[0] * nd_max + pick[1]) * ni_max + pick[2]
            free = ~used[g[pending], code]
            done = pending[free]
            used[g[done], code[free]] = True
            out[:, rows[done]] = pick[:, free] + 1
            for k in range(3):
                served[k][g[done], pick[k, free]] = True
            pending = pending[~free]
        if len(pending):  # few left: look through every combination of those ad groups
            grid = np.arange(nh_max * nd_max * ni_max)
            gh, gd, gi = grid // (nd_max * ni_max), (grid // ni_max) % nd_max, grid % ni_max
            av = avail[:, pending]
            mask = (gh < av[0][:, None]) & (gd < av[1][:, None]) & (gi < av[2][:, None])
            mask &= ~used[g[pending]]
            keys = np.where(mask, rng.random(mask.shape), -1.0)
            best = keys.argmax(axis=1)
            found = mask[np.arange(len(pending)), best]
            done = pending[found]
            used[g[done], best[found]] = True
            for k, local in enumerate((gh, gd, gi)):
                out[k, rows[done]] = local[best[found]] + 1
                served[k][g[done], local[best[found]]] = True
    return out[0], out[1], out[2]
