namespace Hbone.Istio.Ca;

/// <summary>How <see cref="IstioCertificateManager"/> fetches and renews certificates; defaults are ztunnel's.</summary>
public sealed class IstioCertificateManagerOptions
{
    /// <summary>At most this many CSRs in flight across all identities. Default 8.</summary>
    public int MaxConcurrentFetches { get; set; } = 8;

    /// <summary>Renewal happens at half the lifetime, earlier by a random part of this fraction of the lifetime. Default 0.05.</summary>
    public double RenewalJitter { get; set; } = 0.05;

    /// <summary>The first retry delay after a failed fetch; it doubles (with jitter) up to <see cref="MaxRetryDelay"/>. Default 500 ms.</summary>
    public TimeSpan InitialRetryDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The longest retry delay. Default 150 s.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(150);

    /// <summary>Throws when a value cannot work.</summary>
    /// <exception cref="IstioException">A value is out of range (<see cref="IstioErrorReason.InvalidOptions"/>).</exception>
    public void Validate()
    {
        if (MaxConcurrentFetches < 1)
        {
            throw new IstioException(IstioErrorReason.InvalidOptions, $"MaxConcurrentFetches must be at least 1, not {MaxConcurrentFetches}");
        }

        if (!(RenewalJitter >= 0 && RenewalJitter < 0.5))
        {
            throw new IstioException(IstioErrorReason.InvalidOptions, $"RenewalJitter must be in [0, 0.5), not {RenewalJitter}");
        }

        if (InitialRetryDelay <= TimeSpan.Zero || MaxRetryDelay < InitialRetryDelay)
        {
            throw new IstioException(IstioErrorReason.InvalidOptions, $"retry delays must be positive with MaxRetryDelay >= InitialRetryDelay, not {InitialRetryDelay} and {MaxRetryDelay}");
        }
    }
}
