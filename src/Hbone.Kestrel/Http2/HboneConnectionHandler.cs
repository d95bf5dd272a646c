using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hbone.Kestrel.Http2;

/// <summary>
/// The end of an HBONE listener's connection pipeline (after Kestrel's TLS middleware): runs the HTTP/2 engine
/// on the decrypted transport with the listener's own options.
/// </summary>
internal sealed class HboneConnectionHandler
{
    private readonly HboneServerOptions _options;
    private readonly HboneConnectDispatcher _dispatcher;
    private readonly ILogger _logger;

    public HboneConnectionHandler(HboneServerOptions options, IServiceProvider services)
    {
        _options = options;
        var loggers = services.GetService<ILoggerFactory>();
        _logger = loggers?.CreateLogger("Hbone.Kestrel.Http2") ?? NullLogger.Instance;
        _dispatcher = new HboneConnectDispatcher(services, options, (ILogger?)loggers?.CreateLogger<HboneConnectDispatcher>() ?? NullLogger.Instance);
    }

    public Task OnConnectedAsync(ConnectionContext context) =>
        new Http2ServerConnection(context, _options, _dispatcher, _logger).RunAsync();
}
