using System.Net;
using Hbone.Kestrel;
using Hbone.Kestrel.Http2;
using Hbone.Kestrel.Tls;
using Microsoft.AspNetCore.Connections;
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
    /// and validated, the server SVID picked per connection; ztunnel's HTTP/2 settings on this listener.
    /// Uses the <see cref="HboneServerOptions"/> registered with <c>AddHboneServer</c>. Connection middleware added by
    /// <paramref name="configure"/> runs between TLS and the HTTP/2 engine.
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
        options.Listen(endPoint, listen =>
        {
            // Connection middleware the caller adds runs after TLS (it sees decrypted bytes) and before the engine,
            // which ends the pipeline: anything added after it would never run.
            listen.UseHboneTls(hbone);
            configure?.Invoke(listen);
            listen.RunHboneEngine(hbone);
        });
        return options;
    }

    /// <summary>Listens for HBONE on <paramref name="address"/>:<paramref name="port"/> (port 0 picks a free port).</summary>
    public static KestrelServerOptions ListenHbone(this KestrelServerOptions options, IPAddress address, int port, Action<ListenOptions>? configure = null) =>
        options.ListenHbone(new IPEndPoint(address, port), configure);

    /// <summary>
    /// Turns a listener into an HBONE listener with <paramref name="hbone"/>: Kestrel's TLS with our handshake (ALPN
    /// h2), then the HBONE HTTP/2 engine ends the connection pipeline. Every HTTP/2 limit comes from
    /// <paramref name="hbone"/>, for this listener only; the application's request pipeline is not involved.
    /// </summary>
    public static ListenOptions UseHbone(this ListenOptions listenOptions, HboneServerOptions hbone)
    {
        ArgumentNullException.ThrowIfNull(listenOptions);
        ArgumentNullException.ThrowIfNull(hbone);
        listenOptions.UseHboneTls(hbone);
        return listenOptions.RunHboneEngine(hbone);
    }

    private static ListenOptions UseHboneTls(this ListenOptions listenOptions, HboneServerOptions hbone)
    {
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

    private static ListenOptions RunHboneEngine(this ListenOptions listenOptions, HboneServerOptions hbone)
    {
        var engine = new HboneConnectionHandler(hbone, listenOptions.ApplicationServices);
        listenOptions.Run(engine.OnConnectedAsync);
        return listenOptions;
    }
}
