using System.Net.Sockets;

namespace Hbone.Ztunnel.Zds;

/// <summary>The node agent's listening ZDS socket (SOCK_SEQPACKET, Unix domain).</summary>
public sealed class ZdsListener : IDisposable
{
    private readonly Socket _socket;

    public ZdsListener(string path)
    {
        Path = path;
        if (File.Exists(path))
        {
            // A socket file left by a previous run would make bind fail.
            File.Delete(path);
        }

        _socket = new Socket(AddressFamily.Unix, SocketType.Seqpacket, ProtocolType.Unspecified);
        _socket.Bind(new UnixDomainSocketEndPoint(path));
        _socket.Listen(16);
    }

    public string Path { get; }

    public async Task<ZdsSocket> AcceptAsync(CancellationToken cancellationToken) =>
        new(await _socket.AcceptAsync(cancellationToken).ConfigureAwait(false));

    public void Dispose()
    {
        _socket.Dispose();
        try
        {
            File.Delete(Path);
        }
        catch (IOException)
        {
        }
    }
}
