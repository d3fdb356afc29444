"""The forecasting network: an LSTM encoder with a direct multi-horizon head.

Shapes (legend): B windows, L lookback, H horizon, F known features per step (calendar
and covariates), Q quantiles, E ensemble members, D hidden size.

One member maps a window of L scaled values plus the features of its L past and H
future steps to all H steps x Q quantiles in one forward pass (direct multi-horizon;
nothing is fed back):

1. window normalisation (reversible instance normalisation, Kim et al., ICLR 2022):
   ``x' = (x - mean(x)) / std(x)`` over the window; outputs are mapped back with the
   same mean and std, so the network only models shape, never level or scale;
2. seasonal profile (classical decomposition, as in Smyl's ES-RNN, 2020): the mean of
   each of the m seasonal positions over the last whole seasons of the window is
   subtracted from the input and added back at the matching future positions (a
   periodic window is continued exactly before anything is learned), weighted by
   a + b s, s the profile's share of the variance of those seasons, a and b learned
   (``adaptive_season``; b absent in configs saved before it);
3. a linear highway from the deseasonalised window to the H outputs (the
   autoregressive component of LSTNet, Lai et al., SIGIR 2018);
4. an LSTM over the window (its value and known features per step), whose last hidden
   state and the future steps' features feed a linear head giving every step and
   quantile;
5. covariates (future-known inputs) also enter linearly on their own step, on the
   series' scale: their effect is removed from the input window before step 1 and added
   to each forecast step after it (a regression on known inputs with the network
   forecasting the rest, as in regression-with-ARIMA-errors models). The head starts at zero and its dropout and weight decay keep it a
   correction on top of the highway: on small data an unregularised LSTM head
   overfits (docs/forecasting.md has the ablation);
6. past-only covariates (known up to the forecast origin) are features of the L window
   steps, zero on the H future steps, and also enter through a linear map from their
   window to the H outputs on the series' scale (a leading indicator read at lag k >= h
   is a fixed window position for step h), starting at zero; static covariates are
   constant feature columns: numeric ones as they are, categorical ones through a
   learned embedding (at most 4 wide) per column;
7. damping (``ForecastNetConfig.damping`` = phi < 1; the Forecaster's default for
   seasonal data is 0.9, or 0.98 with ``smoothing="es"``): at forecast time only, the change of the deseasonalised median
   path from step h-1 to h is multiplied by phi^(h-1), as a damped trend does (Gardner &
   McKenzie 1985), and the quantiles move with the median.

With ``smoothing="es"`` steps 1-2 are replaced by per-series exponential smoothing,
the hybrid of Smyl (ES-RNN, IJF 2020), on the (log-)scaled values, where multiplicative
Holt-Winters is additive: every series i has its own level coefficient alpha_i, seasonal
coefficient gamma_i and m initial seasonal indices s0_i (mean zero: in the original
units the indices multiply to one), learned by gradient descent jointly with the global
network. Over the window x_1..x_L (phase p_t of step t in the season)::

    l_1 = x_1 - s_p1                     s_p <- s0_i[p] at the window start
    l_t = alpha_i (x_t - s_pt) + (1 - alpha_i) l_(t-1)
    s_pt <- gamma_i (x_t - l_t) + (1 - gamma_i) s_pt        (after step t)

The network sees x_t - s_pt - l_L (log(y / (season * last level)) in the original
units) and predicts the horizon on that scale; the forecast adds back l_L and the
seasonal indices of the future phases (re-multiplies them in the original units).
Unlike ES-RNN the recursion runs over each input window from its first step (with the
series' learned indices s0_i at the window's calendar phase), not over the whole
history: any L points of a series are enough to forecast, as in the other mode. A
series unseen in training gets the means of the learned coefficients and indices. The
series index and the phase travel as the last two columns of ``feats`` (stripped before
the network sees the features).

With ``smoothing="both"`` the members alternate: even ones smooth per series ("es"),
odd ones normalise the window ("profile"), each with its own lookback and damping.

An ensemble is E members (own weights, own lookback) trained side by side; the
forecast is their median (the mean of the two middle forecasts when E is even).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn

from lstmkit.forecasting.static import embedding_size
from lstmkit.spine.nets import CELLS, make_rnn

SMOOTHINGS = ("profile", "es", "both")  # window normalisation + seasonal profile, per-series ES, or members of each
ES_META = 2  # trailing feats columns in "es" and "both" modes: series index (-1: unseen), seasonal phase


def member_smoothing(smoothing: str, i: int) -> str:
    """The smoothing of member ``i`` of a network in mode ``smoothing``: ``"both"``
    alternates ``"es"`` (even members) and ``"profile"`` (odd ones).

    Args:
        smoothing: the network's mode.
        i: the member's index.

    Returns:
        ``"es"`` or ``"profile"``.

    Example:
        >>> [member_smoothing("both", i) for i in range(3)], member_smoothing("es", 1)
        (['es', 'profile', 'es'], 'es')
    """
    return ("es", "profile")[i % 2] if smoothing == "both" else smoothing


@dataclass
class ForecastNetConfig:
    """Hyperparameters of :class:`ForecastNet` (JSON-able; saved with the weights).

    Attributes:
        horizon: H, steps forecast.
        lookbacks: L per ensemble member.
        n_features: F, known features per step (calendar, static, covariates).
        quantiles: Q levels, the median 0.5 among them.
        season_length: m (default 1: none).
        hidden_size: D (default 64).
        num_layers: recurrent layers (default 2).
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"``.
        cell_options: keywords for the recurrent layer.
        dropout: in [0, 1) (default 0.3).
        deseasonalize: use the seasonal profile in ``"profile"`` mode.
        n_covariates: the last n_covariates of the F features are future-known covariates.
        damping: phi in (0, 1] at forecast time (default 1: none), or one per member.
        smoothing: ``"profile"``, ``"es"`` or ``"both"`` (members alternate, es first).
        n_series: series with their own smoothing parameters (``"es"`` and ``"both"``).
        n_past: past-only covariates, the n_past features before the covariates.
        static_levels: categories per categorical static column.
        adaptive_season: in ``"profile"`` mode, the weight of a window's seasonal profile
            is a + b s, s the profile's share of the variance of the window's last whole
            seasons (a starts at 1, b at 0), instead of a alone (configs saved before it).

    Raises:
        ValueError: a field out of range.
    """

    horizon: int
    lookbacks: list[int]
    n_features: int
    quantiles: list[float]
    season_length: int = 1
    hidden_size: int = 64
    num_layers: int = 2
    cell: str = "lstm"
    cell_options: dict = field(default_factory=dict)
    dropout: float = 0.3
    deseasonalize: bool = True
    n_covariates: int = 0  # the last n_covariates of the n_features are user covariates
    damping: float | list[float] = 1.0  # forecast-time damping of the step-to-step changes (1 = none)
    smoothing: str = "profile"  # "es": per-series Holt-Winters (configs saved before it: profile)
    n_series: int = 0  # series with their own smoothing parameters ("es" and "both")
    n_past: int = 0  # past-only covariates: the n_past float features before the n_covariates
    static_levels: list[int] = field(default_factory=list)  # categories per categorical static column
    adaptive_season: bool = False  # the profile's weight grows with its share of the window's variance

    def __post_init__(self) -> None:
        if self.horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {self.horizon}")
        if not self.lookbacks or min(self.lookbacks) < 1:
            raise ValueError(f"lookbacks must be a non-empty list of ints >= 1, got {self.lookbacks}")
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {self.cell!r}")
        if not self.quantiles or any(not 0 < q < 1 for q in self.quantiles):
            raise ValueError(f"quantiles must be levels in (0, 1), got {self.quantiles}")
        if 0.5 not in self.quantiles:
            raise ValueError("quantiles must include the median 0.5 (the point forecast)")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        phis = self.damping if isinstance(self.damping, list) else [self.damping]
        if any(not 0 < d <= 1 for d in phis) or (isinstance(self.damping, list)
                                                and len(self.damping) != len(self.lookbacks)):
            raise ValueError(f"damping must be in (0, 1], or one such per member, got {self.damping}")
        if self.smoothing not in SMOOTHINGS:
            raise ValueError(f"smoothing must be one of {SMOOTHINGS}, got {self.smoothing!r}")
        if self.smoothing in ("es", "both") and self.n_series < 1:
            raise ValueError(f"smoothing={self.smoothing!r} needs n_series >= 1, got {self.n_series}")
        if not 0 <= self.n_covariates <= self.n_features:
            raise ValueError(f"n_covariates must be in [0, n_features], got {self.n_covariates}")
        if not 0 <= self.n_past <= self.n_features - self.n_covariates:
            raise ValueError(f"n_past must be in [0, n_features - n_covariates], got {self.n_past}")
        if any(int(n) < 1 for n in self.static_levels):
            raise ValueError(f"static_levels must be category counts >= 1, got {self.static_levels}")
        if self.hidden_size < 1 or self.num_layers < 1 or self.n_features < 0 or self.season_length < 1:
            raise ValueError("hidden_size, num_layers, season_length must be >= 1 and n_features >= 0")

    def to_dict(self) -> dict:
        """The config as a JSON-able dict (``ForecastNetConfig(**d)`` reads it back)."""
        return asdict(self)


class ForecastMember(nn.Module):
    """One member of the ensemble (the module docstring's steps 1-7):
    ``forward(x (B, L_max), feats (B, L_max + H, F)) -> (B, H, Q)`` on the scaled axis.

    Args:
        cfg: the network's config.
        lookback: this member's L (it reads the last L points of the window).
        smoothing: this member's ``"es"`` or ``"profile"`` (None: ``cfg.smoothing``).
        damping: this member's phi (None: ``cfg.damping``, a number).
    """

    def __init__(self, cfg: ForecastNetConfig, lookback: int, smoothing: str | None = None,
                 damping: float | None = None) -> None:
        super().__init__()
        L, H, F, Q, m = lookback, cfg.horizon, cfg.n_features, len(cfg.quantiles), cfg.season_length
        self.lookback, self.horizon, self.n_q = L, H, Q
        # categorical static columns: one embedding each, their index columns trail feats
        self.n_cat = len(cfg.static_levels)
        self.embeds = nn.ModuleList(nn.Embedding(int(n), embedding_size(int(n))) for n in cfg.static_levels)
        P, C = cfg.n_past, cfg.n_covariates
        self.n_past = P
        if P:
            # past-only columns are zeroed on the future steps; their window maps linearly
            # to the outputs (on the series' scale), starting at zero
            mask = torch.ones(L + H, F)
            mask[L:, F - C - P:F - C] = 0
            self.register_buffer("past_mask", mask, persistent=False)
            self.past_cols = (F - C - P, F - C)
            self.past_effect = nn.Linear(L * P, H)
            nn.init.zeros_(self.past_effect.weight)
            nn.init.zeros_(self.past_effect.bias)
        F = F + sum(embedding_size(int(n)) for n in cfg.static_levels)
        self.damping = cfg.damping if damping is None else damping
        smoothing = smoothing or cfg.smoothing
        self.meta = cfg.smoothing in ("es", "both")  # feats end with the series index and phase
        self.median_index = list(cfg.quantiles).index(0.5)
        # variant and backend keywords (e.g. layer_norm=True, backend="fused"); an unknown
        # keyword is reported in the user's terms
        self.rnn = make_rnn(
            cfg.cell, 1 + F, cfg.hidden_size, cfg.num_layers, batch_first=True,
            bad_options=lambda exc: f"cell_options {sorted(cfg.cell_options)}: {exc}",
            **cfg.cell_options,
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden_size + H * F, H * Q)
        nn.init.zeros_(self.head.weight)  # start as the highway alone; the LSTM learns a correction
        nn.init.zeros_(self.head.bias)
        self.highway = nn.Linear(L, H)
        self.last_weight = nn.Parameter(torch.zeros(()))
        # covariates also act on their own step directly, on the series' scale: a
        # promotion on day h moves day h. The same effect is taken out of the input
        # window first, so past promotions do not pass for level or volatility.
        # (Calendar features stay out of it: the seasonal profile already does that job,
        # and a second, additive route measurably hurt the airline forecast.)
        C = cfg.n_covariates
        self.n_cov = C
        self.step_effect = nn.Linear(C, 1) if C else None
        self.es = smoothing == "es"
        self.m = m if cfg.deseasonalize else 1  # "es" without a season: level only
        if self.es:
            # per-series smoothing parameters (logits of alpha and gamma, log seasonal
            # indices); the Forecaster starts the indices from each series' own profile
            S = cfg.n_series
            self.es_alpha = nn.Parameter(torch.zeros(S))  # alpha starts at 0.5
            self.es_gamma = nn.Parameter(torch.full((S,), -2.0))  # gamma starts at 0.12
            self.es_season = nn.Parameter(torch.zeros(S, self.m))
        self.seasonal = not self.es and cfg.deseasonalize and m > 1 and L >= m
        if self.seasonal:
            k = (L // m) * m  # the last k window steps hold whole seasons
            # step t of window+horizon sits at seasonal position (t - (L - k)) mod m
            pos = (torch.arange(L + H) - (L - k)) % m
            self.register_buffer("pos", pos, persistent=False)
            self.k, self.m = k, m
            # how much of the profile to use, learned (starts at all of it): a nominal
            # season with no real cycle (business days of a stock price) learns to drop
            # it instead of repeating last weeks' noise
            self.season_weight = nn.Parameter(torch.ones(()))
            # and how much more of it a strongly seasonal window keeps (starts at 0): one
            # weight for all windows cannot suit both a nominal season and a series whose
            # off-season is a hundredth of its peak (Tourism monthly)
            self.season_slope = nn.Parameter(torch.zeros(())) if cfg.adaptive_season else None

    def smoothing_params(self, sid: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """alpha (B,), gamma (B,), initial seasonal indices (B, m) (mean zero) of the
        series ``sid`` (B,) ("es" mode); -1 (a series unseen in training) gets the means."""
        known = sid >= 0
        idx = sid.clamp(min=0)
        a, g, s = self.es_alpha, self.es_gamma, self.es_season
        a = torch.where(known, a[idx], a.mean())
        g = torch.where(known, g[idx], g.mean())
        s = torch.where(known[:, None], s[idx], s.mean(0, keepdim=True))
        return torch.sigmoid(a), torch.sigmoid(g), s - s.mean(1, keepdim=True)

    def smooth(self, x: Tensor, sid: Tensor, phase: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Holt-Winters over the window (module docstring): x (B, L), sid (B,), phase (B,)
        of the first step -> levels (B, L), seasonal index used at each step (B, L), and
        the indices of the H future steps (B, H)."""
        L, H, m = x.shape[1], self.horizon, self.m
        alpha, gamma, s0 = self.smoothing_params(sid)
        # rotate each series' indices so that slot j holds the phase of window step j
        rot = (phase[:, None] + torch.arange(m, device=x.device)) % m  # (B, m)
        slots = list(torch.gather(s0, 1, rot).unbind(1))  # m tensors (B,)
        keep_level, keep_season = 1 - alpha, 1 - gamma
        xs = x.unbind(1)
        level = xs[0] - slots[0]
        levels, used = [level], [slots[0]]  # step 1: the update leaves the index as it is
        for t in range(1, L):
            s_t = slots[t % m]
            level = alpha * (xs[t] - s_t) + keep_level * level
            if m > 1:
                slots[t % m] = gamma * (xs[t] - level) + keep_season * s_t
            levels.append(level)
            used.append(s_t)
        future = torch.stack([slots[(L + h) % m] for h in range(H)], 1) if m > 1 else x.new_zeros(len(x), H)
        return torch.stack(levels, 1), torch.stack(used, 1), future

    def forward(self, x: Tensor, feats: Tensor) -> Tensor:
        """x (B, L_max) scaled values, feats (B, L_max + H, F) -> (B, H, Q) scaled."""
        L, H = self.lookback, self.horizon
        x = x[:, -L:]  # (B, L)
        feats = feats[:, feats.shape[1] - L - H:]  # (B, L + H, F)
        if self.meta:
            sid, phase = feats[:, 0, -2].round().long(), feats[:, 0, -1].round().long()
            feats = feats[..., :-ES_META]
        past = None
        if self.n_cat:
            idx = feats[:, 0, -self.n_cat:].round().long()  # (B, n_cat)
            feats = feats[..., :-self.n_cat]
        if self.n_past:
            feats = feats * self.past_mask
            a, b = self.past_cols
            past = self.past_effect(feats[:, :L, a:b].flatten(1))  # (B, H)
        if self.n_cat:
            emb = torch.cat([e(idx[:, k]) for k, e in enumerate(self.embeds)], dim=-1)  # (B, E)
            feats = torch.cat([emb[:, None].expand(-1, L + H, -1), feats], dim=-1)
        effect = None
        if self.step_effect is not None:
            effect = self.step_effect(feats[..., -self.n_cov:])[..., 0]  # (B, L + H)
            x = x - effect[:, :L]
        if self.es:
            levels, used, season_future = self.smooth(x, sid, phase)
            last = levels[:, -1:]  # (B, 1)
            xn = x - used - last  # (B, L): log(y / (season * last level)) on the scaled axis
            y = self._network(xn, feats) + (last + season_future)[..., None]
        else:
            mu = x.mean(1, keepdim=True)  # (B, 1)
            sd = torch.sqrt(x.var(1, keepdim=True, unbiased=False) + 1e-4)  # (B, 1)
            xn = (x - mu) / sd  # (B, L)
            season_future = 0.0
            if self.seasonal:
                # not centred: it keeps the level of the last whole seasons, so with a zero
                # head and highway a periodic window is continued exactly
                prof = xn[:, L - self.k:].reshape(-1, self.k // self.m, self.m).mean(1)  # (B, m)
                weight = self.season_weight
                if self.season_slope is not None:
                    last = xn[:, L - self.k:]  # (B, k)
                    share = prof.var(1, keepdim=True, unbiased=False) \
                        / last.var(1, keepdim=True, unbiased=False).clamp_min(1e-6)  # (B, 1)
                    weight = weight + self.season_slope * share.clamp(max=1)
                full = weight * prof[:, self.pos]  # (B, L + H)
                xn = xn - full[:, :L]
                season_future = full[:, L:, None]  # (B, H, 1)
            y = (self._network(xn, feats) + season_future) * sd[..., None] + mu[..., None]
        if past is not None:
            y = y + past[..., None]
        return y if effect is None else y + effect[:, L:, None]  # (B, H, Q)

    def _network(self, xn: Tensor, feats: Tensor) -> Tensor:
        """The normalised, deseasonalised window xn (B, L) and the features (B, L + H, F)
        -> the normalised path (B, H, Q): LSTM head + linear highway + level, damped at
        forecast time."""
        L, H = self.lookback, self.horizon
        inp = torch.cat([xn[..., None], feats[:, :L]], dim=-1)  # (B, L, 1 + F)
        out, _ = self.rnn(inp)  # (B, L, D)
        h = torch.cat([self.drop(out[:, -1]), feats[:, L:].flatten(1)], dim=1)  # (B, D + H*F)
        # the level the highway starts from: the window mean (0 here) or, as far as the
        # data asks for it, the last deseasonalised value (the naive forecast, right for a
        # random walk). A learned, undecayed weight; weight decay on the highway then
        # shrinks toward this level, not always toward the window mean, which lags trends
        level = self.last_weight * xn[:, -1:, None]  # (B, 1, 1)
        y = self.head(h).view(-1, H, self.n_q) + self.highway(xn)[..., None] + level  # (B, H, Q)
        if self.damping < 1 and not self.training and H > 1:
            y = self._damp(y)
        return y

    def _damp(self, y: Tensor) -> Tensor:
        """Damp the deseasonalised median path y (B, H, Q) as a damped trend does
        (Gardner & McKenzie 1985): the change from step h-1 to h is multiplied by
        phi^(h-1), so the path levels off; every quantile moves with the median.
        Forecast time only: trained with it, the network would undo it."""
        med = y[..., self.median_index]  # (B, H)
        w = self.damping ** torch.arange(1, self.horizon, dtype=y.dtype, device=y.device)  # (H-1,)
        inc = (med[:, 1:] - med[:, :-1]) * w
        damped = torch.cat([med[:, :1], med[:, :1] + inc.cumsum(1)], dim=1)  # (B, H)
        return y + (damped - med)[..., None]


class ForecastNet(nn.Module):
    """All members; ``forward`` returns (E, B, H, Q), :meth:`predict` their median (B, H, Q)
    with quantiles sorted so they never cross.

    Args:
        cfg: the config; one member per entry of ``cfg.lookbacks``.
    """

    def __init__(self, cfg: ForecastNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        phis = cfg.damping if isinstance(cfg.damping, list) else [cfg.damping] * len(cfg.lookbacks)
        self.members = nn.ModuleList(ForecastMember(cfg, L, member_smoothing(cfg.smoothing, i), phis[i])
                                     for i, L in enumerate(cfg.lookbacks))

    @property
    def max_lookback(self) -> int:
        """The longest member lookback: the window length ``x`` must have."""
        return max(self.cfg.lookbacks)

    def forward(self, x: Tensor, feats: Tensor) -> Tensor:
        """x (B, L_max) scaled values, feats (B, L_max + H, F) -> (E, B, H, Q), one
        forecast per member."""
        return torch.stack([m(x, feats) for m in self.members])  # (E, B, H, Q)

    @torch.no_grad()
    def predict(self, x: Tensor, feats: Tensor) -> Tensor:
        """The members' median (B, H, Q) of :meth:`forward`, by :meth:`combine`."""
        return self.combine(self(x, feats))

    @staticmethod
    def combine(y: Tensor) -> Tensor:
        """The members' forecasts y (E, B, H, Q) -> their median (B, H, Q) (the mean of
        the two middle ones when E is even), quantiles sorted along Q so that they never
        cross (monotone rearrangement, Chernozhukov et al. 2010). Written with sort (ONNX
        has no median)."""
        if len(y) > 1:
            y = y.sort(dim=0).values
        E = len(y)
        y = y[0] if E == 1 else (y[(E - 1) // 2] + y[E // 2]) / 2  # (B, H, Q)
        return y.sort(dim=-1).values


def pinball_loss(pred: Tensor, target: Tensor, quantiles: Tensor) -> Tensor:
    """Twice the mean quantile (pinball) loss; pred (..., B, H, Q), target (B, H),
    quantiles (Q,). Doubled so that at the single level 0.5 it is the mean absolute error.

    Args:
        pred: (..., B, H, Q) quantile forecasts.
        target: (B, H) actual values.
        quantiles: (Q,) levels.

    Returns:
        The scalar loss.

    Example:
        >>> import torch
        >>> pinball_loss(torch.tensor([[[1.0], [2.0]]]), torch.tensor([[2.0, 2.0]]), torch.tensor([0.5]))
        tensor(0.5000)
    """
    e = target[..., None] - pred  # (..., B, H, Q)
    return 2 * torch.maximum(quantiles * e, (quantiles - 1) * e).mean()
