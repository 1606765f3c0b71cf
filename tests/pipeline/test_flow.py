"""The monthly run's steps, declared once: a well-formed order, and the run in one process follows it."""

import pytest

from pipeline import flow


def test_every_step_comes_after_what_it_takes_waits_for_and_is_mapped_over():
    names = [step.name for step in flow.MONTHLY]
    assert len(set(names)) == len(names) and names[:2] == ["ingest", flow.CONTEXT]
    for k, step in enumerate(flow.MONTHLY):
        earlier = set(names[:k])
        assert set(step.takes) | set(step.after) | ({step.over} if step.over else set()) <= earlier, step.name
        assert not (step.over and step.takes), f"{step.name}: a mapped step takes its item alone"
    assert {step.over for step in flow.MONTHLY if step.over} == {"plan", "backtest_summary"}
    assert all(step.heavy for step in flow.MONTHLY if step.over), "a mapped step's work grows with the panel"


def test_each_step_is_a_function_of_the_steps():
    from pipeline import steps

    assert list(steps.STEP_FUNCTIONS) == [step.name for step in flow.MONTHLY]
    assert all(steps.STEP_FUNCTIONS[name] is getattr(steps, name) for name in steps.STEP_FUNCTIONS)


def test_run_steps_calls_them_in_order_with_the_context_and_what_each_takes(monkeypatch):
    """The wiring alone (each step replaced by one that records its call): a mapped step once per item of the
    step it is over, a step that takes a mapped one given all its tasks' files in one list."""
    from pipeline import steps

    calls = []

    def recorder(name):
        def call(ctx, *args):
            calls.append((name, ctx, args))
            if name == flow.CONTEXT:
                return "checked context"
            if name in ("plan", "backtest_summary"):
                return [f"{name} item {k}" for k in range(2)]
            return [f"{name} file"] if flow.mapped(name) else f"{name} result"
        return call

    monkeypatch.setattr(steps, "STEP_FUNCTIONS", {name: recorder(name) for name in steps.STEP_FUNCTIONS})
    results = steps.run_steps("opened context", flow.CONTEXT, flow.MONTHLY[-1].name)
    assert [name for name, _, _ in calls] == [
        "validate", "plan", "fit", "fit", "backtest_summary", "evaluate_part", "evaluate_part", "evaluate",
        "monitor_part", "monitor_part", "monitor", "score_champion_part", "score_champion_part", "score_champion",
        "register", "publish_part", "publish_part", "publish", "summarize"]
    assert calls[0][1] == "opened context" and {ctx for _, ctx, _ in calls[1:]} == {"checked context"}
    args = {name: a for name, _, a in calls}
    assert args["fit"] == ("plan item 1",) and args["backtest_summary"] == (["fit file", "fit file"],)
    assert args["evaluate"] == (["fit file", "fit file"], ["evaluate_part file", "evaluate_part file"])
    assert args["register"] == () and results["fit"] == [["fit file"], ["fit file"]]
    with pytest.raises(ValueError):
        steps.run_steps("opened context", "no such step", "summarize")
