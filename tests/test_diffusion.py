"""Diffusion by hand and guided-diffusion counterfactuals (course_utils.xai.diffusion, lesson 12)."""
import numpy as np
import pytest
import torch

from course_utils import data, models
from course_utils.exercises import get_exercise
from course_utils.xai import counterfactuals, diffusion as dif

# the notebook's settings (lesson 12, section 2)
CF_SETTINGS = dict(t_start=dif.LESSON_T_START, guidance_scale=dif.LESSON_GUIDANCE_SCALE, steps=dif.LESSON_STEPS)


@pytest.fixture(scope="module")
def schedule():
    return dif.linear_schedule()


@pytest.fixture(scope="module")
def denoiser():
    return models.load_pretrained("mnist_ddpm")


@pytest.fixture(scope="module")
def robust():
    return models.load_pretrained("mnist_cnn_robust")


def test_linear_schedule_is_ho_et_al(schedule):
    assert schedule.T == 1000 and schedule.betas[0].item() == pytest.approx(1e-4) and schedule.betas[-1].item() == pytest.approx(0.02)
    abar = schedule.alpha_bar
    assert torch.all(abar[1:] < abar[:-1]) and abar[-1].item() < 1e-4  # almost pure noise at the end
    assert abar[0].item() == pytest.approx(1 - 1e-4)


def test_forward_process_mean_and_variance_match_the_closed_form(schedule):
    """Noise one image 20,000 times by the step-by-step chain x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) z."""
    generator = torch.Generator().manual_seed(0)
    x0 = torch.linspace(-1, 1, 8, dtype=torch.float64).reshape(1, 1, 2, 4)
    chain = x0.repeat(20_000, 1, 1, 1)
    t_check = 300
    for t in range(t_check + 1):
        beta = schedule.betas[t]
        chain = (1 - beta).sqrt() * chain + beta.sqrt() * torch.randn(chain.shape, generator=generator, dtype=torch.float64)
    abar = schedule.alpha_bar[t_check]
    # the chain's sample mean and variance per pixel against sqrt(abar) x0 and 1 - abar (standard errors ~0.007)
    torch.testing.assert_close(chain.mean(0), abar.sqrt() * x0[0], atol=0.03, rtol=0)
    torch.testing.assert_close(chain.var(0), (1 - abar).expand(1, 2, 4), atol=0.03, rtol=0)
    # and add_noise draws from the same distribution
    closed = dif.add_noise(x0.repeat(20_000, 1, 1, 1), t_check,
                           torch.randn(chain.shape, generator=generator, dtype=torch.float64), schedule)
    torch.testing.assert_close(closed.mean(0), chain.mean(0), atol=0.04, rtol=0)
    torch.testing.assert_close(closed.var(0), chain.var(0), atol=0.04, rtol=0)


def test_add_noise_with_one_step_per_image(schedule):
    x0, noise = torch.ones(3, 1, 2, 2), torch.zeros(3, 1, 2, 2)
    out = dif.add_noise(x0, torch.tensor([0, 10, 999]), noise, schedule)
    expected = schedule.alpha_bar[[0, 10, 999]].sqrt().float()
    torch.testing.assert_close(out[:, 0, 0, 0], expected)


def test_ddim_step_with_the_true_noise_recovers_x0(schedule):
    generator = torch.Generator().manual_seed(1)
    x0 = torch.rand(4, 1, 28, 28, generator=generator, dtype=torch.float64) * 2 - 1
    eps = torch.randn(x0.shape, generator=generator, dtype=torch.float64)
    for t in (0, 200, 999):
        x_t = dif.add_noise(x0, t, eps, schedule)
        torch.testing.assert_close(dif.ddim_step(x_t, t, -1, eps, schedule), x0, atol=1e-9, rtol=1e-9)
        torch.testing.assert_close(dif.predict_x0(x_t, t, eps, schedule), x0, atol=1e-9, rtol=1e-9)
        if t > 0:  # to an intermediate step: x0 noised to t_prev with the same noise
            torch.testing.assert_close(dif.ddim_step(x_t, t, t // 2, eps, schedule),
                                       dif.add_noise(x0, t // 2, eps, schedule), atol=1e-9, rtol=1e-9)


def test_ddpm_step_mean_and_noise(schedule):
    x_t, eps = torch.zeros(50_000, 1, 1, 1, dtype=torch.float64), torch.zeros(50_000, 1, 1, 1, dtype=torch.float64)
    out = dif.ddpm_step(x_t, 500, eps, schedule, rng=0)
    assert out.mean().item() == pytest.approx(0, abs=0.01)
    assert out.var().item() == pytest.approx(schedule.betas[500].item(), rel=0.03)
    assert torch.equal(dif.ddpm_step(x_t[:3] + 1, 0, eps[:3], schedule, rng=0),
                       dif.ddpm_step(x_t[:3] + 1, 0, eps[:3], schedule, rng=1))  # no noise at the last step


def test_ddim_timesteps():
    assert dif.ddim_timesteps(9, 10) == list(range(9, -2, -1))
    times = dif.ddim_timesteps(400, 20)
    assert times[0] == 400 and times[-1] == -1 and len(times) == 21 and all(a > b for a, b in zip(times, times[1:]))


def test_guided_x0_is_the_exercise_reference():
    assert get_exercise("12.3").reference is dif.guided_x0
    assert get_exercise("12.1").reference is dif.add_noise and get_exercise("12.2").reference is dif.ddim_step
    x, g = torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 5.0)  # RMS 5: rescaled to 1
    torch.testing.assert_close(dif.guided_x0(x, g, x + 1, 2.0, 0.0, 0.75), torch.full((1, 1, 2, 2), 1.0))
    torch.testing.assert_close(dif.guided_x0(x, g, x + 1, 0.0, 0.5, 0.75), torch.full((1, 1, 2, 2), 0.25))


def test_the_trained_model_denoises(denoiser, schedule):
    """At step 300, its noise estimate is far better than predicting zero (whose error is 1 per pixel)."""
    X, _ = data.mnist_tensors("test", n=64)
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(X.shape, generator=generator)
    x_t = dif.add_noise(dif.to_diffusion_space(X), 300, noise, schedule)
    with torch.no_grad():
        error = (denoiser(x_t, 300) - noise).pow(2).mean().item()
    assert error < 0.15


def test_counterfactuals_reach_the_target_for_the_guiding_classifier(denoiser, robust):
    """The notebook's digits, targets (the robust model's runner-up class) and settings."""
    X, _ = data.mnist_tensors("test", n=16)
    with torch.no_grad():
        target = robust(X).topk(2, dim=1).indices[:, 1]
    cf = dif.diffusion_counterfactual(denoiser, robust, X, target, rng=0, **CF_SETTINGS)
    assert cf.shape == X.shape and cf.min() >= 0 and cf.max() <= 1
    with torch.no_grad():
        share = (robust(cf).argmax(1) == target).float().mean().item()
    assert share >= 0.8, share


def test_counterfactuals_are_deterministic_with_a_seed_and_leave_the_models_alone(denoiser, robust):
    X, y = data.mnist_tensors("test", n=3)
    denoiser.train()
    robust.conv1.weight.requires_grad_(False)
    before = {k: v.clone() for k, v in denoiser.state_dict().items()}
    try:
        a = dif.diffusion_counterfactual(denoiser, robust, X, (y + 3) % 10, t_start=300, guidance_scale=3.0, steps=5, rng=7)
        b = dif.diffusion_counterfactual(denoiser, robust, X, (y + 3) % 10, t_start=300, guidance_scale=3.0, steps=5, rng=7)
        c = dif.diffusion_counterfactual(denoiser, robust, X, (y + 3) % 10, t_start=300, guidance_scale=3.0, steps=5, rng=8)
        assert torch.equal(a, b) and not torch.equal(a, c)
        assert denoiser.training and all(m.training for m in denoiser.modules())
        assert not robust.training and robust.conv1.weight.requires_grad is False
        assert all(p.requires_grad for n, p in robust.named_parameters() if n != "conv1.weight")
        assert all(p.grad is None for p in (*denoiser.parameters(), *robust.parameters()))
        assert all(torch.equal(v, before[k]) for k, v in denoiser.state_dict().items())
    finally:
        denoiser.eval()
        robust.conv1.weight.requires_grad_(True)


def test_zero_guidance_is_the_plain_reconstruction(denoiser, robust, schedule):
    X, y = data.mnist_tensors("test", n=2)
    cf = dif.diffusion_counterfactual(denoiser, robust, X, y, t_start=200, guidance_scale=0.0, distance_weight=0.0,
                                      steps=4, rng=0)
    generator = torch.Generator().manual_seed(0)
    z = dif.add_noise(dif.to_diffusion_space(X), 200, torch.randn(X.shape, generator=generator), schedule)
    times = dif.ddim_timesteps(200, 4)
    with torch.no_grad():  # DDIM with the clean estimate clipped to the image box [-1, 1]
        for t, t_prev in zip(times[:-1], times[1:]):
            eps = denoiser(z, t)
            x0 = dif.predict_x0(z, t, eps, schedule)
            z = dif.ddim_step(z + schedule.alpha_bar[t].sqrt().float() * (x0.clamp(-1, 1) - x0), t, t_prev, eps, schedule)
    torch.testing.assert_close(cf, dif.from_diffusion_space(z), atol=1e-5, rtol=0)


def test_reconstruction_error_is_lower_for_digits_than_for_noise(denoiser, schedule):
    X, _ = data.mnist_tensors("test", n=8)
    noisy = (X + 0.3 * torch.randn(X.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    assert dif.reconstruction_error(denoiser, X, schedule).mean() < dif.reconstruction_error(denoiser, noisy, schedule).mean()


def test_wachter_images_reaches_the_target():
    cnn = models.load_pretrained("mnist_cnn")
    X, y = data.mnist_tensors("test", n=4)
    target = (y + 1) % 10
    cf = counterfactuals.wachter_images(cnn, X, target, steps=50, max_rounds=6)
    with torch.no_grad():
        assert (cnn(cf).argmax(1) == target).all()
    assert cf.min() >= 0 and cf.max() <= 1 and (cf - X).abs().sum() > 0


def test_sample_gives_images(denoiser, schedule):
    out = dif.sample(denoiser, 2, schedule, steps=3, rng=0)
    assert out.shape == (2, 1, 28, 28) and out.min() >= 0 and out.max() <= 1
    assert torch.equal(out, dif.sample(denoiser, 2, schedule, steps=3, rng=0))


@pytest.mark.parametrize("call, error, message", [
    (lambda d, c, X: dif.diffusion_counterfactual(d, c, X, 1, t_start=1000, guidance_scale=1.0, steps=5),
     ValueError, r"t_start must be in \[0, 999\]"),
    (lambda d, c, X: dif.diffusion_counterfactual(d, c, X, 1, t_start=3, guidance_scale=1.0, steps=5),
     ValueError, "steps must be at most t_start"),
    (lambda d, c, X: dif.diffusion_counterfactual(d, c, X, 1, t_start=300, guidance_scale=-1.0, steps=5),
     ValueError, "guidance_scale"),
    (lambda d, c, X: dif.diffusion_counterfactual(d, c, X, 10, t_start=300, guidance_scale=1.0, steps=5),
     ValueError, r"target must be in \[0, 9\]"),
    (lambda d, c, X: dif.diffusion_counterfactual(d, c, X * 2, 1, t_start=300, guidance_scale=1.0, steps=5),
     ValueError, r"x must hold images in \[0, 1\]"),
    (lambda d, c, X: dif.diffusion_counterfactual("denoiser", c, X, 1, t_start=300, guidance_scale=1.0, steps=5),
     TypeError, "denoiser must be a torch.nn.Module"),
    (lambda d, c, X: dif.diffusion_counterfactual(d, c, X, 1, t_start=300, guidance_scale=1.0, steps=5, schedule="linear"),
     TypeError, "schedule must be a course_utils.xai.diffusion.Schedule"),
    (lambda d, c, X: dif.add_noise(X, 5, torch.zeros(1, 1, 28, 28), dif.linear_schedule()),
     ValueError, "noise must have the shape of x0"),
    (lambda d, c, X: dif.ddim_step(X, 5, 5, X, dif.linear_schedule()), ValueError, "t_prev must be in"),
    (lambda d, c, X: dif.linear_schedule(T=0), ValueError, "T must be"),
    (lambda d, c, X: dif.linear_schedule(beta_start=0.1, beta_end=0.01), ValueError, "beta_end"),
])
def test_bad_arguments_are_named(denoiser, robust, call, error, message):
    X, _ = data.mnist_tensors("test", n=2)
    with pytest.raises(error, match=message):
        call(denoiser, robust, X)


def test_checkpoint_card():
    import json

    path = models.checkpoint_path("mnist_ddpm")
    card = json.loads(path.with_suffix(".json").read_text())
    assert path.stat().st_size < 10_000_000 and card["sha256"] and "course_utils.train mnist_ddpm" in card["command"]
    assert card["schedule"] == {"kind": "linear", "T": 1000, "beta_start": 1e-4, "beta_end": 0.02}
    assert card["loss_curve"][-1] < card["loss_curve"][0] and card["train_minutes"] > 0
    assert 0 <= card["sample_quality"]["share_confident"] <= 1


def test_lesson_settings_are_the_defaults():
    import inspect

    defaults = inspect.signature(dif.diffusion_counterfactual).parameters
    assert (defaults["t_start"].default, defaults["guidance_scale"].default, defaults["steps"].default) == (
        dif.LESSON_T_START, dif.LESSON_GUIDANCE_SCALE, dif.LESSON_STEPS)
