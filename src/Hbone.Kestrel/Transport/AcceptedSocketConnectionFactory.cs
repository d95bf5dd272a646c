using System.Buffers;
using System.Net.Sockets;
using Hbone.Kestrel.Hosting;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hbone.Kestrel.Transport;

/// <summary>
/// Turns sockets accepted outside Kestrel (in another network namespace, handed over by a supervisor) into Kestrel
/// connections, so a custom <see cref="IConnectionListener"/> can serve them with the HBONE server. Unlike Kestrel's
/// <c>SocketConnectionContextFactory</c>, the memory pool is chosen here, and defaults to 32 KiB blocks.
/// </summary>
public sealed class AcceptedSocketConnectionFactory
{
    private readonly MemoryPool<byte> _pool;
    private readonly AcceptedSocketConnectionOptions _options;
    private readonly ILogger _logger;

    /// <summary>Creates a factory; every connection it makes shares <paramref name="options"/>' memory pool.</summary>
    public AcceptedSocketConnectionFactory(AcceptedSocketConnectionOptions? options = null, ILogger? logger = null)
    {
        _options = options ?? new AcceptedSocketConnectionOptions();
        ArgumentOutOfRangeException.ThrowIfNegative(_options.MaxReadBufferSize);
        ArgumentOutOfRangeException.ThrowIfNegative(_options.MaxWriteBufferSize);
        _pool = _options.MemoryPool ?? new LargeBlockMemoryPool();
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>
    /// Wraps a connected socket and starts moving its bytes; the connection owns the socket from here on and disposes
    /// it when the connection closes.
    /// </summary>
    public ConnectionContext Create(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var connection = new AcceptedSocketConnection(socket, _pool, _options, _logger);
        connection.Start();
        return connection;
    }
}
