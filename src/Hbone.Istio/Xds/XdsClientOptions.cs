namespace Hbone.Istio.Xds;

/// <summary>Options of <see cref="DeltaXdsClient"/>. Defaults are ztunnel's.</summary>
public sealed class XdsClientOptions
{
    /// <summary>Who this proxy is; sent in the first request of each type on every stream.</summary>
    public XdsNode Node { get; set; } = new();

    /// <summary>The first reconnect delay; default 10 ms.</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromMilliseconds(10);

    /// <summary>The largest reconnect delay; default 15 s.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Throws when the options cannot work.</summary>
    /// <exception cref="IstioException">A backoff is not positive or the initial one exceeds the max (<see cref="IstioErrorReason.InvalidOptions"/>).</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Node);
        if (InitialBackoff <= TimeSpan.Zero || MaxBackoff < InitialBackoff)
        {
            throw new IstioException(IstioErrorReason.InvalidOptions, $"backoff must satisfy 0 < initial ({InitialBackoff}) <= max ({MaxBackoff})");
        }
    }
}
