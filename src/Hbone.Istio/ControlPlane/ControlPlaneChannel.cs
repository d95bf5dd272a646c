using System.Net.Security;
using System.Security.Authentication;
using Grpc.Core;
using Grpc.Net.Client;

namespace Hbone.Istio.ControlPlane;

/// <summary>
/// One gRPC channel to a control-plane endpoint: TLS checked against the mesh roots, and per call the headers istiod
/// expects (<c>authorization: Bearer</c> from the token file read afresh, <c>clusterid</c>, the extra headers).
/// </summary>
public sealed class ControlPlaneChannel : IDisposable
{
    // ztunnel accepts xDS responses up to 200 MiB: a large mesh's first push is big.
    private const int MaxReceiveMessageSize = 200 * 1024 * 1024;

    // The longest the channel itself waits between connect attempts (see the constructor).
    private static readonly TimeSpan ChannelReconnectBackoff = TimeSpan.FromSeconds(1);

    /// <summary>Opens the channel (no connection is made until the first call).</summary>
    /// <exception cref="IstioException">The options are invalid or the root certificate cannot be read.</exception>
    public ControlPlaneChannel(IstioConnectionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        SocketsHttpHandler handler = new()
        {
            EnableMultipleHttp2Connections = true,
            ConnectTimeout = TimeSpan.FromSeconds(10),
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            // A silently dead istiod is noticed by HTTP/2 PINGs, not by the next push that never comes.
            KeepAlivePingDelay = TimeSpan.FromSeconds(30),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
        };
        if (options.Address.Scheme == Uri.UriSchemeHttps)
        {
            var trust = new RootCertificateTrust(options.RootCertificate, options.AltHostname ?? options.Address.IdnHost, options.AltHostname is not null);
            handler.SslOptions = new SslClientAuthenticationOptions
            {
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                RemoteCertificateValidationCallback = trust.Validate,
            };
        }

        Channel = GrpcChannel.ForAddress(options.Address, new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            MaxReceiveMessageSize = MaxReceiveMessageSize,
            // The callers pace their own retries (the xDS client: 10 ms doubling to 15 s). The channel's subchannel has a
            // second backoff (by default 1 s, x1.6 per failed connect, up to 120 s) during which every call fails at once
            // with "Error connecting to subchannel" without trying to connect: with the defaults, a ztunnel whose istiod
            // was back and listening still failed its next attempt and waited one more xDS backoff step (benchmarks/
            // controlplane/flap.sh: 54 of 58 reconnects, ~5 s after a 3 s outage), and after a long outage the 120 s cap
            // could hold calls off that long after istiod returns. A short channel backoff (connect attempts at most
            // about once a second while istiod is down) leaves the pacing to the callers.
            InitialReconnectBackoff = ChannelReconnectBackoff / 10,
            MaxReconnectBackoff = ChannelReconnectBackoff,
        });
    }

    /// <summary>The options this channel was made with.</summary>
    public IstioConnectionOptions Options { get; }

    /// <summary>The gRPC channel; use it with the generated clients.</summary>
    public GrpcChannel Channel { get; }

    /// <summary>The headers for one call; the token file is read now, so a rotated token is used at once.</summary>
    /// <exception cref="IstioException">The token file is missing, unreadable or empty (<see cref="IstioErrorReason.TokenUnavailable"/>).</exception>
    public Metadata CreateHeaders()
    {
        Metadata headers = [];
        string? token = ReadToken();
        if (token is not null)
        {
            headers.Add("authorization", "Bearer " + token);
        }

        headers.Add("clusterid", Options.ClusterId);
        foreach (KeyValuePair<string, string> header in Options.Headers)
        {
            headers.Add(header.Key.ToLowerInvariant(), header.Value);
        }

        return headers;
    }

    /// <inheritdoc />
    public void Dispose() => Channel.Dispose();

    private string? ReadToken()
    {
        if (Options.TokenPath is not { } path)
        {
            return string.IsNullOrWhiteSpace(Options.StaticToken) ? null : Options.StaticToken.Trim();
        }

        string token;
        try
        {
            token = File.ReadAllText(path).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IstioException(IstioErrorReason.TokenUnavailable, $"cannot read the token file {path}: {ex.Message}", ex);
        }

        return token.Length > 0 ? token : throw new IstioException(IstioErrorReason.TokenUnavailable, $"the token file {path} is empty");
    }
}
