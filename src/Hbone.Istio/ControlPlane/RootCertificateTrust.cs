using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Hbone.Istio.ControlPlane;

/// <summary>
/// Validates a control plane's TLS certificate against the configured roots (a PEM file re-read when it changes, inline
/// PEM, or the system's roots) and the expected host name.
/// </summary>
internal sealed class RootCertificateTrust
{
    private const string SystemRoots = "SYSTEM";

    private readonly string _source;
    private readonly string _expectedHost;
    private readonly bool _hostOverridden;
    private readonly Lock _gate = new();
    private X509Certificate2Collection? _roots;
    private (DateTime WrittenUtc, long Length) _fileStamp;

    /// <exception cref="IstioException">The roots cannot be read (<see cref="IstioErrorReason.RootCertificateUnavailable"/>).</exception>
    public RootCertificateTrust(string source, string expectedHost, bool hostOverridden)
    {
        _source = source;
        _expectedHost = expectedHost;
        _hostOverridden = hostOverridden;
        if (!IsSystem)
        {
            _roots = Load(out _fileStamp);
        }
    }

    private bool IsSystem => string.Equals(_source, SystemRoots, StringComparison.OrdinalIgnoreCase);

    private bool IsInline => _source.Contains("-----BEGIN", StringComparison.Ordinal);

    public bool Validate(object sender, X509Certificate? certificate, X509Chain? presented, SslPolicyErrors errors)
    {
        if (certificate is not X509Certificate2 leaf)
        {
            return false;
        }

        bool nameOk = _hostOverridden ? leaf.MatchesHostname(_expectedHost) : (errors & SslPolicyErrors.RemoteCertificateNameMismatch) == 0;
        if (!nameOk)
        {
            return false;
        }

        if (IsSystem)
        {
            return (errors & ~SslPolicyErrors.RemoteCertificateNameMismatch) == SslPolicyErrors.None;
        }

        using X509Chain chain = new();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(CurrentRoots());
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        if (presented is not null)
        {
            chain.ChainPolicy.ExtraStore.AddRange(presented.ChainPolicy.ExtraStore);
        }

        return chain.Build(leaf);
    }

    // A rotated root file is picked up at the next handshake; a file that turns unreadable keeps the last good roots.
    private X509Certificate2Collection CurrentRoots()
    {
        lock (_gate)
        {
            if (!IsInline)
            {
                try
                {
                    FileInfo file = new(_source);
                    if (file.Exists && (file.LastWriteTimeUtc, file.Length) != _fileStamp)
                    {
                        _roots = Load(out _fileStamp);
                    }
                }
                catch (IstioException)
                {
                }
            }

            return _roots!;
        }
    }

    private X509Certificate2Collection Load(out (DateTime, long) stamp)
    {
        stamp = default;
        string pem;
        if (IsInline)
        {
            pem = _source;
        }
        else
        {
            try
            {
                FileInfo file = new(_source);
                stamp = (file.LastWriteTimeUtc, file.Length);
                pem = File.ReadAllText(_source);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new IstioException(IstioErrorReason.RootCertificateUnavailable, $"cannot read the control plane root certificate {_source}: {ex.Message}", ex);
            }
        }

        X509Certificate2Collection roots = [];
        try
        {
            roots.ImportFromPem(pem);
        }
        catch (CryptographicException ex)
        {
            throw new IstioException(IstioErrorReason.RootCertificateUnavailable, $"the control plane root certificate {(IsInline ? "(inline PEM)" : _source)} is not valid PEM: {ex.Message}", ex);
        }

        if (roots.Count == 0)
        {
            throw new IstioException(IstioErrorReason.RootCertificateUnavailable, $"the control plane root certificate {(IsInline ? "(inline PEM)" : _source)} holds no certificate");
        }

        return roots;
    }
}
