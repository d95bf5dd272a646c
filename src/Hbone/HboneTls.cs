using System.Net.Security;
using System.Runtime.Versioning;
using System.Security.Authentication;

namespace Hbone;

/// <summary>TLS settings both ends of HBONE share.</summary>
public static class HboneTls
{
    /// <summary>
    /// ztunnel's cipher suites: AES-GCM only (TLS 1.3, plus the ECDHE AES-GCM suites when TLS 1.2 is enabled).
    /// Null where the platform cannot restrict suites (only Linux and macOS can).
    /// </summary>
    public static CipherSuitesPolicy? CreateCipherSuitesPolicy(SslProtocols protocols) =>
        OperatingSystem.IsLinux() ? CreateForLinux(protocols) : null;

    [SupportedOSPlatform("linux")]
    private static CipherSuitesPolicy CreateForLinux(SslProtocols protocols)
    {
        var suites = new List<TlsCipherSuite> { TlsCipherSuite.TLS_AES_256_GCM_SHA384, TlsCipherSuite.TLS_AES_128_GCM_SHA256 };
        if ((protocols & SslProtocols.Tls12) != 0)
        {
            suites.Add(TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384);
            suites.Add(TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256);
            suites.Add(TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384);
            suites.Add(TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256);
        }

        return new CipherSuitesPolicy(suites);
    }
}
