using Hbone.Identity;
using Microsoft.Extensions.Logging;

namespace Hbone.Istio.Ca;

/// <summary>The certificate manager's log messages.</summary>
internal static partial class CertificateManagerLog
{
    [LoggerMessage(1, LogLevel.Information, "Certificate for {Identity} installed: serial {Serial}, valid until {NotAfter:u}, renewal at {RenewAt:u}")]
    public static partial void Installed(ILogger logger, SpiffeId identity, string serial, DateTimeOffset notAfter, DateTimeOffset renewAt);

    [LoggerMessage(2, LogLevel.Warning, "Fetching the certificate for {Identity} failed (attempt {Attempt}), retrying in {Delay}: {Error}")]
    public static partial void FetchFailed(ILogger logger, SpiffeId identity, int attempt, TimeSpan delay, string error);

    [LoggerMessage(3, LogLevel.Information, "Stopped renewing the certificate for {Identity}")]
    public static partial void Forgotten(ILogger logger, SpiffeId identity);

    [LoggerMessage(4, LogLevel.Information, "Trust bundle for {TrustDomain} replaced: {Count} root(s)")]
    public static partial void RootsChanged(ILogger logger, string trustDomain, int count);
}
