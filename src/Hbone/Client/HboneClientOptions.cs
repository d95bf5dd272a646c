using System.Security.Authentication;
using Hbone.Identity;

namespace Hbone.Client;

/// <summary>Options of <see cref="HboneClient"/>. Defaults follow Istio's ztunnel (hbone-reference.md §1-§2).</summary>
public sealed class HboneClientOptions
{
    /// <summary>The source identity used when a request names none.</summary>
    public ISvidSource? Certificate { get; set; }

    /// <summary>The roots servers' SVIDs must chain to. When null, <see cref="Certificate"/> is used if it is also an <see cref="ITrustBundleSource"/>.</summary>
    public ITrustBundleSource? TrustBundle { get; set; }

    /// <summary>TLS versions offered. Default TLS 1.3 only.</summary>
    public SslProtocols SslProtocols { get; set; } = SslProtocols.Tls13;

    /// <summary>Time to dial one connection: TCP connect, TLS handshake and the server's SETTINGS. Default 10 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Dial attempts after the first, for failures before any tunnel byte was sent. Default 2.</summary>
    public int MaxDialRetries { get; set; } = 2;

    /// <summary>First retry delay; later ones back off exponentially with jitter. Default 100 ms.</summary>
    public TimeSpan DialRetryDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Streams per connection before another is dialed for the same key: min(this, the peer's limit). Default 100.</summary>
    public int MaxStreamsPerConnection { get; set; } = 100;

    /// <summary>A pooled connection without streams for this long is closed. Default 5 minutes.</summary>
    public TimeSpan PooledConnectionIdleTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>A connection older than this takes no new streams (keep it below half the certificate lifetime). Default 12 h.</summary>
    public TimeSpan PooledConnectionLifetime { get; set; } = TimeSpan.FromHours(12);

    /// <summary>Per-stream HTTP/2 receive window. Default 4 MiB.</summary>
    public int InitialStreamWindowSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>Connection receive window; keep it at least 4 × the stream window. Default 16 MiB.</summary>
    public int InitialConnectionWindowSize { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// Largest frame accepted from servers (SETTINGS_MAX_FRAME_SIZE). Default 16 KiB, the RFC minimum: Kestrel
    /// allocates a buffer of this size per connection, so ztunnel's 1 MiB would cost every Kestrel server 1 MiB
    /// per connection, while 16 KiB DATA frames already fill a TLS record (see docs/benchmarks.md).
    /// </summary>
    public int MaxFrameSize { get; set; } = 16 * 1024;

    /// <summary>Largest response header list accepted. Default 16 KiB.</summary>
    public int MaxResponseHeadersSize { get; set; } = 16 * 1024;

    /// <summary>Interval of keep-alive PINGs. Default 10 s.</summary>
    public TimeSpan KeepAlivePingDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A connection whose PING is unanswered this long is dropped. Default 20 s.</summary>
    public TimeSpan KeepAlivePingTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Creates the (unconnected) socket of every dial: bind a source address, set <c>SO_MARK</c>, or create it
    /// inside another network namespace. When null, a plain TCP socket is used.
    /// </summary>
    public Func<HboneDialContext, System.Net.Sockets.Socket>? CreateSocket { get; set; }

    /// <summary>The clock used for certificates, idle release and keep-alive.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// Resumes a tunnel's pending read on the connection's reader thread when the data came in a small read (a
    /// request or a response, not a bulk record), saving a thread-pool hop per exchange. Code awaiting a read must
    /// then never block, or the whole connection stalls; as Kestrel's option of the same name. Default false.
    /// </summary>
    public bool UnsafePreferInlineScheduling { get; set; }

    internal ITrustBundleSource ResolveTrustBundle() =>
        TrustBundle ?? Certificate as ITrustBundleSource
        ?? throw new InvalidOperationException($"{nameof(HboneClientOptions)}.{nameof(TrustBundle)} is not set and {nameof(Certificate)} is not an {nameof(ITrustBundleSource)}.");

    /// <summary>Checks every value; throws <see cref="ArgumentOutOfRangeException"/> or <see cref="InvalidOperationException"/>.</summary>
    public void Validate()
    {
        _ = ResolveTrustBundle();
        if ((SslProtocols & SslProtocols.Tls13) == 0 || (SslProtocols & ~(SslProtocols.Tls12 | SslProtocols.Tls13)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(SslProtocols), SslProtocols, "HBONE requires TLS 1.3 (TLS 1.2 may be added).");
        }

        Positive(ConnectTimeout, nameof(ConnectTimeout));
        Positive(PooledConnectionIdleTimeout, nameof(PooledConnectionIdleTimeout));
        Positive(PooledConnectionLifetime, nameof(PooledConnectionLifetime));
        Positive(KeepAlivePingDelay, nameof(KeepAlivePingDelay));
        Positive(KeepAlivePingTimeout, nameof(KeepAlivePingTimeout));
        Range(MaxDialRetries, 0, 10, nameof(MaxDialRetries));
        Range(MaxStreamsPerConnection, 1, 10_000, nameof(MaxStreamsPerConnection));
        Range(InitialStreamWindowSize, 65535, int.MaxValue, nameof(InitialStreamWindowSize));
        Range(InitialConnectionWindowSize, InitialStreamWindowSize, int.MaxValue, nameof(InitialConnectionWindowSize));
        Range(MaxFrameSize, 16 * 1024, (1 << 24) - 1, nameof(MaxFrameSize));
        Range(MaxResponseHeadersSize, 1024, 1024 * 1024, nameof(MaxResponseHeadersSize));
        if (DialRetryDelay < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(DialRetryDelay), DialRetryDelay, "The retry delay cannot be negative.");
        }
    }

    private static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(name, value, "The value must be positive.");
        }
    }

    private static void Range(int value, int min, int max, string name)
    {
        if (value < min || value > max)
        {
            throw new ArgumentOutOfRangeException(name, value, $"The value must be between {min} and {max}.");
        }
    }
}
