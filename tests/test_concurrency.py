"""One loaded model shared by many threads (the studio's visitors) gives exactly the serial answers and is
never changed: inference reads a model's tensors and never writes to it, not even for the duration of a call."""

import hashlib
import threading

import pytest
import torch

import hypermaml as hm
from hypermaml.config import BATCH_NORMS
from tests.conftest import METHOD_VARIANTS, image_episode, linear_config, tiny_conv_config

VARIANTS = METHOD_VARIANTS
CASES = [(v, bn) for v in VARIANTS for bn in BATCH_NORMS]


def digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def build(variant: str, batch_norm: str) -> hm.FewShotModel:
    torch.manual_seed(0)
    kw = dict(VARIANTS[variant])
    model = hm.build_model(tiny_conv_config(kw.pop("method"), batch_norm=batch_norm, **kw))
    if batch_norm == "running":  # non-trivial running statistics, set by the explicit training step
        model.train()
        for seed in range(3):
            model.backbone.update_running_stats(image_episode(seed=100 + seed).support_x)
    if isinstance(model, hm.HyperMAML):
        torch.nn.init.normal_(model.hypernet.out.weight, std=0.1)  # a non-zero update
    return model.eval()


def run_task(model: hm.FewShotModel, seed: int, warmup: bool) -> torch.Tensor:
    ep = image_episode(n_query=2, seed=seed)
    with torch.no_grad():
        if warmup:  # HyperMAML's MAML warm-up path: gradient steps inside adapt
            task = model.adapt(ep.support_x, ep.support_y, maml_weight=0.5)
        else:
            task = model.adapt(ep.support_x, ep.support_y)
        return model.logits(ep.query_x, task)


def hammer(model: hm.FewShotModel, n_threads: int = 6, n_tasks: int = 20, warmup: bool = False) -> dict[int, torch.Tensor]:
    results: dict[int, torch.Tensor] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(n_threads)

    def worker(offset: int) -> None:
        try:
            barrier.wait()
            for i in range(n_tasks):
                seed = (offset * 7 + i) % n_tasks
                results[offset * n_tasks + i] = (seed, run_task(model, seed, warmup))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


@pytest.mark.parametrize("variant,batch_norm", CASES, ids=[f"{v}-{b}" for v, b in CASES])
def test_six_threads_on_one_model_give_the_serial_logits_and_leave_it_unchanged(variant, batch_norm):
    model = build(variant, batch_norm)
    before = digest(model)
    serial = {seed: run_task(model, seed, False) for seed in range(20)}
    for seed, logits in hammer(model).values():
        assert torch.equal(logits, serial[seed]), f"{variant}/{batch_norm}: task {seed} differs under threads"
    assert digest(model) == before


def test_hypermaml_warm_up_path_is_thread_safe_too():
    model = build("hypermaml", "metabn")
    before = digest(model)
    serial = {seed: run_task(model, seed, True) for seed in range(20)}
    for seed, logits in hammer(model, warmup=True).values():
        assert torch.equal(logits, serial[seed])
    assert digest(model) == before


def test_maml_with_gradients_enabled_in_threads_matches_serial_and_changes_nothing():
    # The studio adapts MAML with autograd on (the inner loop needs gradients); nothing may leak between threads.
    model = hm.build_model(linear_config("maml", maml=hm.MAMLConfig(inner_lr=0.5, test_steps=4))).eval()
    before = digest(model)
    g = torch.Generator().manual_seed(0)
    tasks = [(torch.randn(4, 2, generator=g), torch.tensor([0, 0, 1, 1])) for _ in range(20)]

    def one(i: int) -> torch.Tensor:
        x, y = tasks[i]
        return model.logits(x, model.adapt(x, y)).detach()

    serial = [one(i) for i in range(20)]
    out: dict[tuple[int, int], torch.Tensor] = {}
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for i in range(20):
                out[(k, i)] = one((i + k) % 20)
        except BaseException as e:  # a thread's exception would otherwise only be a warning
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors, errors
    assert len(out) == 6 * 20
    for (k, i), logits in out.items():
        assert torch.equal(logits, serial[(i + k) % 20])
    assert digest(model) == before


def test_the_digest_notices_a_changed_model():
    # The check above could not pass by accident: one changed number changes the digest.
    model = build("protonet", "metabn")
    before = digest(model)
    with torch.no_grad():
        model.backbone.features[0].weight[0, 0, 0, 0] += 1e-3
    assert digest(model) != before
