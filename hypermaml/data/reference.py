"""Published numbers for the benchmarks our readers load, kept beside the data they describe (mean ± 95%
interval, %, 5-way, 600 episodes). The studio and the benchmark scripts both read them from here."""

from __future__ import annotations

# HyperMAML paper (Przewiezlikowski et al., arXiv 2205.15745), Table 1: Omniglot -> EMNIST. Its code
# evaluates all 75 queries of an episode together with transductive BatchNorm.
OMNIGLOT_EMNIST = {
    ("hypermaml", 1): "79.07 ± 1.09",
    ("hypermaml", 5): "89.22 ± 0.78",
    ("maml", 1): "74.81 ± 0.25",
    ("maml", 5): "83.54 ± 1.79",
    ("protonet", 1): "72.04 ± 0.82",
    ("protonet", 5): "87.22 ± 1.01",
}
# Within Omniglot, Vinyals split, 1-shot. The HyperMAML paper has no such table; these are the original
# papers' numbers (MAML: Finn et al. 2017; ProtoNet: Snell et al. 2017).
OMNIGLOT_VINYALS = {("hypermaml", 1): "—", ("maml", 1): "98.7 ± 0.4", ("protonet", 1): "98.8"}
PAPER_PROTOCOL = "queries together (75 per episode, transductive BatchNorm)"
