using System.Net;
using Hbone.Kestrel;
using Hbone.Kestrel.Tls;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Microsoft.AspNetCore.Hosting;

/// <summary>Adds HBONE listeners to Kestrel.</summary>
public static class HboneKestrelExtensions
{
    /// <summary>
    /// Listens for HBONE on <paramref name="endPoint"/>: HTTP/2 only, TLS 1.3, ALPN h2, a client SVID required
    /// and validated, the server SVID picked per connection. Applies ztunnel's HTTP/2 settings to the server.
    /// Uses the <see cref="HboneServerOptions"/> registered with <c>AddHboneServer</c>.
    /// </summary>
    public static KestrelServerOptions ListenHbone(this KestrelServerOptions options, IPEndPoint endPoint, Action<ListenOptions>? configure = null) =>
        options.ListenHbone((EndPoint)endPoint, configure);

    /// <summary>
    /// Listens for HBONE on any <paramref name="endPoint"/> a registered transport can bind, for example one fed by
    /// sockets a node proxy accepts inside pod network namespaces (an <c>IConnectionListenerFactory</c> whose
    /// <c>IConnectionListenerFactorySelector.CanBind</c> claims the endpoint type).
    /// </summary>
    public static KestrelServerOptions ListenHbone(this KestrelServerOptions options, EndPoint endPoint, Action<ListenOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(endPoint);
        var hbone = options.ApplicationServices.GetRequiredService<IOptions<HboneServerOptions>>().Value;
        ApplyLimits(options, hbone);
        options.Listen(endPoint, listen =>
        {
            listen.UseHbone(hbone);
            configure?.Invoke(listen);
        });
        return options;
    }

    /// <summary>Listens for HBONE on <paramref name="address"/>:<paramref name="port"/> (port 0 picks a free port).</summary>
    public static KestrelServerOptions ListenHbone(this KestrelServerOptions options, IPAddress address, int port, Action<ListenOptions>? configure = null) =>
        options.ListenHbone(new IPEndPoint(address, port), configure);

    /// <summary>Turns a listener into an HBONE listener with <paramref name="hbone"/> (HTTP/2 over mutual TLS with SVIDs).</summary>
    public static ListenOptions UseHbone(this ListenOptions listenOptions, HboneServerOptions hbone)
    {
        ArgumentNullException.ThrowIfNull(listenOptions);
        ArgumentNullException.ThrowIfNull(hbone);
        hbone.Validate();
        var logger = listenOptions.ApplicationServices.GetService<ILoggerFactory>()?.CreateLogger("Hbone.Kestrel.Tls") ?? NullLogger.Instance;
        var handshake = new HboneTlsHandshake(hbone, logger);
        listenOptions.Protocols = HttpProtocols.Http2;
        listenOptions.UseHttps(new TlsHandshakeCallbackOptions
        {
            OnConnection = handshake.OnConnectionAsync,
            HandshakeTimeout = hbone.HandshakeTimeout,
        });
        return listenOptions;
    }

    private static void ApplyLimits(KestrelServerOptions options, HboneServerOptions hbone)
    {
        options.AddServerHeader = false;
        var limits = options.Limits;
        limits.MaxRequestHeadersTotalSize = hbone.MaxRequestHeadersTotalSize;
        limits.RequestHeadersTimeout = hbone.RequestHeadersTimeout;
        limits.Http2.InitialStreamWindowSize = hbone.InitialStreamWindowSize;
        limits.Http2.InitialConnectionWindowSize = hbone.InitialConnectionWindowSize;
        limits.Http2.MaxFrameSize = hbone.MaxFrameSize;
        limits.Http2.MaxStreamsPerConnection = hbone.MaxStreamsPerConnection;
        limits.Http2.KeepAlivePingDelay = hbone.KeepAlivePingDelay;
        limits.Http2.KeepAlivePingTimeout = hbone.KeepAlivePingTimeout;
    }
}
