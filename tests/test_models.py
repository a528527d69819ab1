import torch
import torch.nn.functional as F

from gan_core.models import Discriminator, Generator, KeyedDropout, SANDiscriminator


def test_generator_is_the_fixed_course_architecture():
    g = Generator()
    shapes = {k: tuple(v.shape) for k, v in g.state_dict().items()}
    assert shapes == {
        "fc1.weight": (256, 100), "fc1.bias": (256,),
        "fc2.weight": (512, 256), "fc2.bias": (512,),
        "fc3.weight": (1024, 512), "fc3.bias": (1024,),
        "fc4.weight": (784, 1024), "fc4.bias": (784,),
    }
    assert [name for name, _ in g.named_children()] == ["fc1", "fc2", "fc3", "fc4"]
    z = torch.randn(7, 100)
    x = z
    for layer in (g.fc1, g.fc2, g.fc3):
        x = F.leaky_relu(layer(x), 0.2)
    expected = torch.tanh(g.fc4(x))
    assert torch.equal(g(z), expected)


class CourseGenerator(torch.nn.Module):
    """The course template's generator, as students have it (its own code, not ours)."""

    def __init__(self, g_output_dim):
        super(CourseGenerator, self).__init__()
        self.fc1 = torch.nn.Linear(100, 256)
        self.fc2 = torch.nn.Linear(self.fc1.out_features, self.fc1.out_features * 2)
        self.fc3 = torch.nn.Linear(self.fc2.out_features, self.fc2.out_features * 2)
        self.fc4 = torch.nn.Linear(self.fc3.out_features, g_output_dim)

    def forward(self, x):
        x = F.leaky_relu(self.fc1(x), 0.2)
        x = F.leaky_relu(self.fc2(x), 0.2)
        x = F.leaky_relu(self.fc3(x), 0.2)
        return torch.tanh(self.fc4(x))


def test_our_checkpoints_load_into_the_course_generator_and_sample_the_same():
    ours = Generator()
    course = CourseGenerator(g_output_dim=784)
    course.load_state_dict(ours.state_dict(), strict=True)
    z = torch.randn(5, 100)
    assert torch.equal(course(z), ours(z))


def test_discriminator_outputs_logits_and_options():
    x = torch.randn(5, 784) * 10
    d = Discriminator()
    out = d(x)
    assert out.shape == (5,)
    assert [m.out_features for m in d.modules() if isinstance(m, torch.nn.Linear)] == [1024, 512, 256, 1]
    d_drop = Discriminator(dropout=0.3)
    assert any(isinstance(m, KeyedDropout) for m in d_drop.modules())
    d_sn = Discriminator(spectral_norm=True)
    assert any("parametrizations" in name for name, _ in d_sn.named_modules())
    assert Discriminator(out_dim=4)(x).shape == (5, 4)


def test_san_discriminator_direction_and_split_gradients():
    d = SANDiscriminator()
    assert torch.isclose(d.direction().norm(), torch.tensor(1.0))
    x = torch.randn(4, 784)
    for_h, for_omega = d.split_logits(x)
    assert torch.allclose(for_h, d(x)) and torch.allclose(for_omega, d(x))
    for_h.sum().backward()
    assert d.omega.grad is None or torch.count_nonzero(d.omega.grad) == 0  # ω frozen in the h term
    d.zero_grad()
    for_omega.sum().backward()
    assert all(p.grad is None for n, p in d.named_parameters() if n != "omega")  # h frozen in the ω term
    assert d.omega.grad is not None


def test_keyed_dropout_drops_at_its_rate_reproducibly_and_not_in_eval():
    layer = KeyedDropout(0.3)
    layer.key.fill_(7)
    x = torch.ones(200, 500)
    out = layer(x)
    assert abs((out == 0).float().mean().item() - 0.3) < 0.01
    assert torch.allclose(out[out != 0], torch.tensor(1 / 0.7))
    again = KeyedDropout(0.3)
    again.key.fill_(7)
    assert torch.equal(again(x), out) and not torch.equal(again(x), out)  # same key: same masks, call by call
    assert torch.equal(layer.eval()(x), x)


def test_spectral_norm_matches_torchs():
    torch.manual_seed(0)
    ours = Discriminator(spectral_norm=True)
    torch.manual_seed(0)
    theirs = Discriminator()
    for i, layer in enumerate(m for m in theirs.modules() if isinstance(m, torch.nn.Linear)):
        torch.nn.utils.parametrizations.spectral_norm(layer)
    # same initial draws, so load the raw weights and power-iteration vectors across
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(16, 784)
    for _ in range(3):  # each training forward runs one power iteration in both
        assert torch.allclose(ours(x), theirs(x), rtol=1e-5, atol=1e-6)
