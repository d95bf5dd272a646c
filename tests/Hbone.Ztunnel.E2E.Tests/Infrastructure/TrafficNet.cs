using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Hbone.Client;
using Hbone.Identity;
using Hbone.Protocol;

namespace Hbone.Ztunnel.E2E.Tests.Infrastructure;

/// <summary>Traffic helpers: bulk exchanges, closed-connection checks, iptables counters, raw HBONE from any namespace.</summary>
internal static class TrafficNet
{
    /// <summary>Sends <paramref name="data"/> while reading concurrently, half-closes, reads until the peer closes; returns what came back.</summary>
    public static async Task<byte[]> BulkExchangeAsync(Socket socket, byte[] data, TimeSpan deadline)
    {
        using var timeout = new CancellationTokenSource(deadline);
        var send = Task.Run(async () =>
        {
            for (var offset = 0; offset < data.Length; offset += 64 * 1024)
            {
                await socket.SendAsync(data.AsMemory(offset, Math.Min(64 * 1024, data.Length - offset)), SocketFlags.None, timeout.Token);
            }

            socket.Shutdown(SocketShutdown.Send);
        });
        using var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            if (read == 0)
            {
                break;
            }

            received.Write(buffer, 0, read);
        }

        await send;
        return received.ToArray();
    }

    /// <summary>SHA-256 as hex, for comparing bulk data.</summary>
    /// <summary>Connects from <paramref name="pod"/> to <paramref name="target"/>, sends <paramref name="data"/>, half-closes, reads the reply; returns it with the client's own address (to find its access-log line).</summary>
    public static async Task<(IPEndPoint Local, byte[] Reply)> ExchangeFromAsync(LabPod pod, IPEndPoint target, byte[] data, TimeSpan deadline)
    {
        using var client = await PodSockets.ConnectAsync(pod.NetnsPath, target, deadline);
        var local = (IPEndPoint)client.LocalEndPoint!;
        return (local, await PodSockets.ExchangeAsync(client, data, deadline));
    }

    public static string Sha256(byte[] data) => Convert.ToHexString(SHA256.HashData(data));

    /// <summary>
    /// Sends <paramref name="probe"/> (ignoring a reset while sending) and reads until the connection ends: returns
    /// the bytes received before the close (an orderly close or a reset both count as closed).
    /// </summary>
    /// <exception cref="TimeoutException">The connection was still open at the deadline.</exception>
    public static async Task<(byte[] Received, bool Reset)> ReadUntilClosedAsync(Socket socket, byte[] probe, TimeSpan deadline)
    {
        using var timeout = new CancellationTokenSource(deadline);
        using var received = new MemoryStream();
        try
        {
            if (probe.Length > 0)
            {
                await socket.SendAsync(probe, SocketFlags.None, timeout.Token);
            }

            var buffer = new byte[4096];
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                if (read == 0)
                {
                    return (received.ToArray(), false);
                }

                received.Write(buffer, 0, read);
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown or SocketError.NotConnected)
        {
            return (received.ToArray(), true);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{socket.RemoteEndPoint} was still open after {deadline} ({received.Length} bytes received)");
        }
    }

    /// <summary>
    /// The packet counter of the first rule of <paramref name="chain"/> whose <c>iptables -L -v -n -x</c> line contains
    /// every one of <paramref name="parts"/>, in the namespace <paramref name="netns"/>.
    /// </summary>
    public static async Task<long> RuleCounterAsync(string netns, string table, string chain, params string[] parts)
    {
        var listing = await MeshLab.ExecAsync(netns, ["iptables", "-w", "-t", table, "-L", chain, "-v", "-n", "-x"]);
        var line = listing.Split('\n').FirstOrDefault(l => parts.All(p => l.Contains(p, StringComparison.Ordinal)))
            ?? throw new InvalidOperationException($"no rule with {string.Join(", ", parts)} in {table} {chain} of {netns}:\n{listing}");
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0], CultureInfo.InvariantCulture);
    }

    /// <summary>Polls <paramref name="read"/> until <paramref name="holds"/> is true of its value; returns the value.</summary>
    public static async Task<T> PollAsync<T>(Func<Task<T>> read, Func<T, bool> holds, TimeSpan deadline, string what)
    {
        using var timeout = new CancellationTokenSource(deadline);
        while (true)
        {
            var value = await read();
            if (holds(value))
            {
                return value;
            }

            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), timeout.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{what} did not happen within {deadline} (last value: {value})");
            }
        }
    }

    /// <summary>
    /// An HBONE client in <paramref name="netnsPath"/> presenting a fresh SVID for default/<paramref name="serviceAccount"/>
    /// signed by the lab's CA (<c>WorkDir/ca</c>).
    /// </summary>
    public static HboneClient Attacker(MeshLab lab, string netnsPath, string serviceAccount)
    {
        var caDirectory = Path.Combine(lab.WorkDir, "ca");
        // Not disposed: the trust bundle handed to the client refers to its root.
        var ca = DevelopmentCertificateAuthority.FromPem(
            File.ReadAllText(Path.Combine(caDirectory, "ca.pem")), File.ReadAllText(Path.Combine(caDirectory, "ca.key")));
        var svid = ca.IssueIstio(LabPod.Namespace, serviceAccount);
        return new HboneClient(new HboneClientOptions
        {
            Certificate = new InMemoryCertificateSource(svid, ca.TrustBundle),
            CreateSocket = _ => PodSockets.Create(netnsPath),
            MaxDialRetries = 0,
        });
    }

    /// <summary>
    /// A CONNECT to <paramref name="destination"/> with <paramref name="authority"/>, expecting <paramref name="pod"/>'s
    /// identity, claiming <paramref name="forwardedFor"/> as the client in <c>Forwarded</c> when given.
    /// </summary>
    public static async Task<HboneStream> ConnectAsync(HboneClient client, IPEndPoint destination, string authority, LabPod pod, TimeSpan deadline, IPEndPoint? forwardedFor = null)
    {
        using var timeout = new CancellationTokenSource(deadline);
        return await client.ConnectAsync(
            new HboneRequest
            {
                Destination = destination,
                Authority = HboneAuthority.Parse(authority),
                ExpectedIdentities = [SpiffeId.Parse(pod.SpiffeId)],
                ForwardedFor = forwardedFor,
            },
            timeout.Token);
    }

    /// <summary>Writes <paramref name="data"/>, sends END_STREAM and reads until the far end's END_STREAM: what came back.</summary>
    public static async Task<byte[]> ExchangeAsync(HboneStream stream, byte[] data, TimeSpan deadline)
    {
        using var timeout = new CancellationTokenSource(deadline);
        await stream.WriteAsync(data, timeout.Token);
        await stream.CompleteWritesAsync(timeout.Token);
        using var received = new MemoryStream();
        await stream.CopyToAsync(received, timeout.Token);
        return received.ToArray();
    }
}
