"""How much faster is TaskNorm-I's hand-written backward (``hypermaml.ops.tasknorm._TaskNormI``) than the same formula left to autograd?

    .venv/bin/python -m benchmarks.micro.tasknorm            # ProtoNet 1/5-shot, second-order MAML 5-shot (1 step)
    .venv/bin/python -m benchmarks.micro.tasknorm --quick    # fewer rounds
    .venv/bin/python -m benchmarks.micro.tasknorm --save     # also store docs/tasknorm.json

The shipped configs that normalise with TaskNorm-I (``omniglot_emnist_protonet_{1,5}shot``,
``omniglot_emnist_maml_5shot`` with one second-order inner step) take one-episode training steps (``meta_loss``,
backward, Adam) on random 28x28 images, in one process. The two implementations alternate round by round on
the same model (``benchmarks.workload.alternate_ms``), a round being the same six episodes: ``_TaskNormI`` (the
library's), and the written-out formula (``tasknorm_written_out``, differentiated by autograd),
swapped in for the duration of a round. Each entry is the 20th percentile and the median over rounds of the
mean step time in ms; ``speedup`` is
written-out / hand-written at the 20th percentile (> 1: the hand-written backward is faster). The last line is
one JSON object.
"""

from __future__ import annotations

import torch

import hypermaml as hm
from benchmarks import workload
from benchmarks.workload import alternate_ms, micro_main
from hypermaml.ops import tasknorm

CASES = (("protonet", 1, {}), ("protonet", 5, {}), ("maml", 5, {"train_steps": 1, "first_order": False}))


class _WrittenOut:
    """Stands in for ``_TaskNormI`` (its ``apply``): the library's written-out form, differentiated by autograd."""

    apply = staticmethod(tasknorm.tasknorm_written_out)


def measure(method: str, shot: int, maml: dict, rounds: int) -> dict:
    cfg = workload.model_config(method, shot, **maml)
    if cfg.backbone.batch_norm != "tasknorm-i":
        raise ValueError(f"{method} {shot}-shot normalises with {cfg.backbone.batch_norm}, not TaskNorm-I")
    torch.manual_seed(0)
    model = hm.build_model(cfg).train()
    sampler, g = workload.fake_sampler(shot), torch.Generator().manual_seed(0)
    episodes = [sampler.sample(g) for _ in range(6)]
    optimiser = torch.optim.Adam(model.parameters(), 1e-3)

    def step(episode) -> None:
        loss, _ = model.meta_loss(episode)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    def rounds_of(implementation):
        def one_round() -> None:  # the six episodes with ``implementation`` swapped in
            tasknorm._TaskNormI = implementation
            for episode in episodes:
                step(episode)

        return one_round

    library = tasknorm._TaskNormI
    try:
        timed = alternate_ms({"hand_written": rounds_of(library), "written_out": rounds_of(_WrittenOut)}, rounds, warmup=1)
    finally:
        tasknorm._TaskNormI = library
    row = {"method": method, "shots": shot, **({"maml": maml} if maml else {})}
    for name, times in timed.items():  # per round of six episodes -> per step
        row[name] = {key: round(value / len(episodes), 1) for key, value in times.items()}
    row["speedup"] = round(row["written_out"]["p20_ms"] / row["hand_written"]["p20_ms"], 2)
    return row


def measure_all(quick: bool) -> list[dict]:
    rows = []
    for method, shot, maml in CASES:
        row = measure(method, shot, maml, 4 if quick else 10)
        rows.append(row)
        print(
            f"{method} {shot}-shot training step: hand-written {row['hand_written']['p20_ms']} ms, "
            f"written out {row['written_out']['p20_ms']} ms (20th percentiles), speedup {row['speedup']}x",
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    micro_main("tasknorm", __doc__, measure_all, "4 rounds instead of 10", argv)


if __name__ == "__main__":
    main()
