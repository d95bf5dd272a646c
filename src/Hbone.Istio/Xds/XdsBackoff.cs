namespace Hbone.Istio.Xds;

/// <summary>Exponential reconnect delay: doubles from the initial value up to the max, each draw jittered down by up to a quarter.</summary>
internal sealed class XdsBackoff(TimeSpan initial, TimeSpan max, Random random)
{
    private TimeSpan _next;

    /// <summary>The delay before the next attempt; never above the max, never below three quarters of the nominal step.</summary>
    public TimeSpan Next()
    {
        TimeSpan nominal = _next == TimeSpan.Zero ? initial : _next;
        _next = nominal >= max / 2 ? max : nominal * 2;
        // Jitter downwards only, so the cap is a hard bound while reconnecting clients still spread out.
        return nominal - (nominal / 4 * random.NextDouble());
    }

    /// <summary>Starts again from the initial delay (after a stream got a response).</summary>
    public void Reset() => _next = initial;
}
