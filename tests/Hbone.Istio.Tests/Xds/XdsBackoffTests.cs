using Hbone.Istio.Xds;

namespace Hbone.Istio.Tests.Xds;

public sealed class XdsBackoffTests
{
    [Fact]
    public void FT_01_Delays_double_from_the_initial_value_stay_within_a_quarter_below_nominal_and_never_pass_the_cap()
    {
        var backoff = new XdsBackoff(TimeSpan.FromMilliseconds(10), TimeSpan.FromSeconds(15), new Random(42));
        double[] nominal = [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120, 10240, 15000, 15000, 15000];
        foreach (double ms in nominal)
        {
            double delay = backoff.Next().TotalMilliseconds;
            Assert.InRange(delay, ms * 0.75, ms);
        }

        backoff.Reset();
        Assert.InRange(backoff.Next().TotalMilliseconds, 7.5, 10);
    }

    [Fact]
    public void Options_with_a_max_below_the_initial_backoff_are_invalid()
    {
        var options = new XdsClientOptions { InitialBackoff = TimeSpan.FromSeconds(2), MaxBackoff = TimeSpan.FromSeconds(1) };
        Assert.Equal(IstioErrorReason.InvalidOptions, Assert.Throws<IstioException>(options.Validate).Reason);
    }
}
