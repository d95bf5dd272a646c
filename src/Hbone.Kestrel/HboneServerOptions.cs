using System.Net;
using System.Security.Authentication;
using Hbone.Identity;

namespace Hbone.Kestrel;

/// <summary>
/// Options of an HBONE server. Defaults follow Istio's ztunnel (hbone-reference.md §1).
/// </summary>
public sealed class HboneServerOptions
{
    /// <summary>The identity this server presents when <see cref="CertificateSelector"/> does not pick one.</summary>
    public ISvidSource? Certificate { get; set; }

    /// <summary>
    /// Picks the certificate by the local address the connection arrived on; a node proxy presents each
    /// local pod's own identity this way. Returning null falls back to <see cref="Certificate"/>.
    /// </summary>
    public Func<IPEndPoint?, Svid?>? CertificateSelector { get; set; }

    /// <summary>
    /// The roots that peers' SVIDs must chain to. Peers must be in this bundle's trust domain.
    /// When null, <see cref="Certificate"/> is used if it is also an <see cref="ITrustBundleSource"/>.
    /// </summary>
    public ITrustBundleSource? TrustBundle { get; set; }

    /// <summary>TLS versions accepted. Default TLS 1.3 only; add TLS 1.2 only where an old peer needs it.</summary>
    public SslProtocols SslProtocols { get; set; } = SslProtocols.Tls13;

    /// <summary>How long a TLS handshake may take. Default 10 s.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long open tunnels may continue after shutdown starts (GOAWAY sent). Default 5 s, as ztunnel.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Per-stream HTTP/2 receive window. Default 4 MiB.</summary>
    public int InitialStreamWindowSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>Per-connection HTTP/2 receive window; keep it at least 4 × the stream window. Default 16 MiB.</summary>
    public int InitialConnectionWindowSize { get; set; } = 16 * 1024 * 1024;

    /// <summary>Largest HTTP/2 frame this server accepts. Default 1 MiB.</summary>
    public int MaxFrameSize { get; set; } = 1024 * 1024;

    /// <summary>Concurrent streams per connection advertised to clients. Default 200.</summary>
    public int MaxStreamsPerConnection { get; set; } = 200;

    /// <summary>Largest request header list accepted. Default 64 KiB.</summary>
    public int MaxRequestHeadersTotalSize { get; set; } = 64 * 1024;

    /// <summary>Interval of keep-alive PINGs on a quiet connection. Default 10 s.</summary>
    public TimeSpan KeepAlivePingDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A connection whose PING is not answered within this time is closed. Default 20 s.</summary>
    public TimeSpan KeepAlivePingTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Time a connection gets after TLS to send the HTTP/2 client preface; a connection that stays silent is closed
    /// without an answer. Default 5 s.
    /// </summary>
    public TimeSpan PrefaceTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Time to receive a whole request header block (bounds slow or endless CONTINUATION). Default 5 s.</summary>
    public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Called once per CONNECT when it completes (accepted or not): the data of one access-log line.</summary>
    public Action<HboneTunnelLog>? OnTunnelCompleted { get; set; }

    /// <summary>The clock used to validate peer certificates.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// Resumes a tunnel's pending read on the connection's reader thread when the data came in a small read (a
    /// request or a response, not a bulk record), saving a thread-pool hop per exchange. Handlers must then never
    /// block while awaiting a read, or the whole connection stalls; as Kestrel's option of the same name. Default false.
    /// </summary>
    public bool UnsafePreferInlineScheduling { get; set; }

    internal ITrustBundleSource ResolveTrustBundle() =>
        TrustBundle ?? Certificate as ITrustBundleSource
        ?? throw new InvalidOperationException($"{nameof(HboneServerOptions)}.{nameof(TrustBundle)} is not set and {nameof(Certificate)} is not an {nameof(ITrustBundleSource)}.");

    internal void Validate()
    {
        if (Certificate is null && CertificateSelector is null)
        {
            throw new InvalidOperationException($"Set {nameof(HboneServerOptions)}.{nameof(Certificate)} or {nameof(CertificateSelector)}: an HBONE server must present an SVID.");
        }

        _ = ResolveTrustBundle();
        if ((SslProtocols & ~(SslProtocols.Tls12 | SslProtocols.Tls13)) != 0 || (SslProtocols & SslProtocols.Tls13) == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(SslProtocols), SslProtocols, "HBONE requires TLS 1.3 (TLS 1.2 may be added); older versions are refused.");
        }

        RequirePositive(HandshakeTimeout, nameof(HandshakeTimeout));
        RequirePositive(KeepAlivePingDelay, nameof(KeepAlivePingDelay));
        RequirePositive(KeepAlivePingTimeout, nameof(KeepAlivePingTimeout));
        RequirePositive(RequestHeadersTimeout, nameof(RequestHeadersTimeout));
        RequirePositive(PrefaceTimeout, nameof(PrefaceTimeout));
        if (DrainTimeout < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(DrainTimeout), DrainTimeout, "The drain timeout cannot be negative.");
        }

        // Ranges of RFC 9113 §6.5.2: the engine advertises these values as they are.
        RequireRange(MaxFrameSize, 16 * 1024, (1 << 24) - 1, nameof(MaxFrameSize));
        RequireRange(InitialStreamWindowSize, 65535, int.MaxValue, nameof(InitialStreamWindowSize));
        RequireRange(MaxStreamsPerConnection, 1, int.MaxValue, nameof(MaxStreamsPerConnection));
        RequireRange(MaxRequestHeadersTotalSize, 1, int.MaxValue / 2, nameof(MaxRequestHeadersTotalSize));
        if (InitialConnectionWindowSize < InitialStreamWindowSize)
        {
            throw new ArgumentOutOfRangeException(nameof(InitialConnectionWindowSize), InitialConnectionWindowSize, "The connection window must be at least the stream window.");
        }
    }

    private static void RequireRange(int value, int min, int max, string name)
    {
        if (value < min || value > max)
        {
            throw new ArgumentOutOfRangeException(name, value, $"The value must be between {min} and {max}.");
        }
    }

    private static void RequirePositive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(name, value, "The value must be positive.");
        }
    }
}
