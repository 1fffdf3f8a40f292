"""Comparing pooling configurations on a train/validation split (demo and Table 1 benchmark)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from .estimators.classifier import EmotionClassifier

__all__ = ["Config", "TABLE1_CONFIGS", "evaluate_configs", "summarise", "to_markdown"]


@dataclass(frozen=True)
class Config:
    """One row of the comparison: a name and the classifier parameters it uses.

    ``temperatures``, when given, are searched by cross-validation on the
    training split (the method's protocol); otherwise ``params`` is used as is.

    Parameters
    ----------
    name : str
        The configuration's name in result tables.
    params : dict, default={}
        :class:`~sk_emotion.EmotionClassifier` parameters, e.g.
        ``{"spatial_pooling": "attention", "temporal_pooling": "softmax"}``.
    temperatures : tuple of float, default=()
        Candidate ``temperature`` values searched by :func:`evaluate_configs`;
        empty for no search.
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    temperatures: tuple[float, ...] = ()


#: Temperatures searched for the poolings that have one (units of frame probability).
TEMPERATURE_GRID: dict[str, tuple[float, ...]] = {
    "softmax": (0.05, 0.1, 0.2, 0.5),
    "expressive": (0.2, 0.35, 0.5),
}

#: The grid of the paper's Table 1, {average, attention} spatial x {mean, max, softmax, LSTM}
#: temporal, plus the neutral-aware expressive pooling.
TABLE1_CONFIGS: tuple[Config, ...] = tuple(
    Config(
        name=f"{spatial} + {temporal}",
        params={"spatial_pooling": spatial, "temporal_pooling": temporal},
        temperatures=TEMPERATURE_GRID.get(temporal, ()),
    )
    for spatial in ("avg", "attention")
    for temporal in ("mean", "max", "softmax", "lstm", "expressive")
)


def evaluate_configs(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    configs: Iterable[Config],
    *,
    seeds: Sequence[int] = (0,),
    base_params: dict[str, Any] | None = None,
    inner_cv: int = 3,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Fit every configuration with every seed and score it on the validation clips.

    Parameters
    ----------
    X_train : numpy.ndarray
        Training face clips, as :class:`~sk_emotion.EmotionClassifier` takes them.
    y_train : numpy.ndarray
        Training labels, one per clip.
    X_val : numpy.ndarray
        Validation face clips.
    y_val : numpy.ndarray
        Validation labels, one per clip.
    configs : iterable of Config
        The configurations to compare, in output order.
    seeds : sequence of int, default=(0,)
        Seeds, each passed as the classifier's ``random_state`` (and the
        inner split's); every configuration is fitted once per seed.
    base_params : dict, optional
        Classifier parameters common to every configuration (e.g.
        ``max_epochs``); a configuration's ``params`` override them.
    inner_cv : int, default=3
        Number of stratified folds of the temperature search on the
        training clips, for configurations with ``temperatures``.
    progress : callable, optional
        Called with one line of text per fitted (config, seed); it also
        turns on the grid search's own progress output.

    Returns
    -------
    pandas.DataFrame
        One row per (config, seed): ``config``, ``seed``, ``temperature``
        (chosen or fixed; NaN when unused), ``val_accuracy``, ``fit_s``.
    """
    rows = []
    for config in configs:
        for seed in seeds:
            params = {**(base_params or {}), **config.params, "random_state": seed}
            start = time.perf_counter()
            model = EmotionClassifier(**params)
            if config.temperatures:
                cv = StratifiedKFold(inner_cv, shuffle=True, random_state=seed)
                # verbose=2: "Fitting 3 folds for each of 3 candidates, totalling 9 fits",
                # then one line per finished fit.
                search = GridSearchCV(model, {"temperature": list(config.temperatures)}, cv=cv,
                                      verbose=2 if progress else 0)
                model = search.fit(X_train, y_train).best_estimator_
            else:
                model.fit(X_train, y_train)
            elapsed = time.perf_counter() - start
            uses_t = hasattr(model.module_.temporal, "temperature")
            rows.append({
                "config": config.name,
                "seed": seed,
                "temperature": model.module_.temporal.temperature if uses_t else np.nan,
                "val_accuracy": float(model.score(X_val, y_val)),
                "fit_s": elapsed,
            })
            if progress:
                row = rows[-1]
                t = f", T={row['temperature']:g}" if uses_t else ""
                progress(f"  {config.name:24s} seed {seed}: "
                         f"val accuracy {row['val_accuracy']:.3f}{t} ({elapsed:.1f} s)")
    return pd.DataFrame(rows)


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation of validation accuracy per configuration, in input order.

    Parameters
    ----------
    results : pandas.DataFrame
        The output of :func:`evaluate_configs`.

    Returns
    -------
    pandas.DataFrame
        One row per configuration, in order of first appearance: ``config``,
        ``val_accuracy_mean``, ``val_accuracy_std`` (population standard
        deviation over seeds), ``n_seeds``, ``temperature`` (the distinct
        temperatures chosen, comma-separated; empty when unused) and
        ``fit_s_mean``.
    """
    order = list(dict.fromkeys(results["config"]))
    grouped = results.groupby("config", sort=False)
    table = pd.DataFrame({
        "val_accuracy_mean": grouped["val_accuracy"].mean(),
        "val_accuracy_std": grouped["val_accuracy"].std(ddof=0),
        "n_seeds": grouped.size(),
        "temperature": grouped["temperature"].agg(lambda t: ", ".join(f"{v:g}" for v in t.dropna().unique())),
        "fit_s_mean": grouped["fit_s"].mean(),
    })
    return table.loc[order].reset_index()


def to_markdown(summary: pd.DataFrame) -> str:
    """Format :func:`summarise`'s output as a Markdown table.

    Parameters
    ----------
    summary : pandas.DataFrame
        The output of :func:`summarise`.

    Returns
    -------
    str
        The table, one line per configuration: accuracy as mean ± standard
        deviation in percent, seeds, temperatures (``-`` when none) and mean
        fit time in seconds.
    """
    lines = ["| configuration | validation accuracy | seeds | temperature | fit time (s) |",
             "|---|---|---|---|---|"]
    for row in summary.itertuples(index=False):
        lines.append(
            f"| {row.config} | {100 * row.val_accuracy_mean:.1f} ± {100 * row.val_accuracy_std:.1f} % "
            f"| {row.n_seeds} | {row.temperature or '-'} | {row.fit_s_mean:.1f} |"
        )
    return "\n".join(lines)
