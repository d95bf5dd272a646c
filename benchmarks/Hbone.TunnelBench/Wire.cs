using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Hbone.TunnelBench;

/// <summary>Socket helpers shared by the clients, and the one-line JSON result.</summary>
internal static class Wire
{
    public static async Task<Socket> ConnectAsync(IPEndPoint target, CancellationToken token)
    {
        var socket = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(target, token);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public static async ValueTask SendAllAsync(Socket socket, ReadOnlyMemory<byte> data, CancellationToken token)
    {
        while (!data.IsEmpty)
        {
            var sent = await socket.SendAsync(data, SocketFlags.None, token);
            data = data[sent..];
        }
    }

    public static async ValueTask ReceiveExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken token)
    {
        while (!buffer.IsEmpty)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, token);
            if (read == 0)
            {
                throw new BenchException("the peer closed the connection before echoing everything back");
            }
            buffer = buffer[read..];
        }
    }

    /// <summary>One byte there and back: proves the tunnel is established end to end.</summary>
    public static async ValueTask PingAsync(Socket socket, CancellationToken token)
    {
        var one = new byte[] { 0x2a };
        await SendAllAsync(socket, one, token);
        one[0] = 0;
        await ReceiveExactlyAsync(socket, one, token);
        if (one[0] != 0x2a)
        {
            throw new BenchException("the echoed byte differs from the one sent");
        }
    }

    public static void PrintJson(Action<Utf8JsonWriter> write)
    {
        using var stdout = Console.OpenStandardOutput();
        using (var writer = new Utf8JsonWriter(stdout))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }
        stdout.WriteByte((byte)'\n');
    }
}
