using System.Net;
using System.Net.Sockets;
using Hbone.Ztunnel.Proxy.Socks5;

namespace Hbone.Ztunnel.Tests.Proxy.Socks5;

/// <summary>The SOCKS5 server handshake (RFC 1928, CONNECT, no auth) over a real loopback TCP connection.</summary>
public sealed class Socks5HandshakeTests
{
    private static readonly byte[] Greeting = [0x05, 0x01, 0x00];
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    [Trait("case", "SOCKS-01")]
    public async Task SOCKS_01_an_IPv4_connect_is_parsed_and_only_the_method_choice_is_written()
    {
        await using var pair = await LoopbackPair.CreateAsync();
        await pair.Client.WriteAsync(Concat(Greeting, [0x05, 0x01, 0x00, 0x01, 10, 1, 2, 3, 0x1F, 0x90]));

        var request = await Socks5Handshake.ReadRequestAsync(pair.Server, CancellationToken.None).AsTask().WaitAsync(Deadline);

        Assert.Equal(new Socks5Request(new IPEndPoint(IPAddress.Parse("10.1.2.3"), 8080), null, 8080), request);
        pair.Server.Close();
        Assert.Equal([0x05, 0x00], await pair.ReadToEndFromServerAsync());
    }

    [Fact]
    [Trait("case", "SOCKS-02")]
    public async Task SOCKS_02_an_IPv6_connect_is_parsed()
    {
        await using var pair = await LoopbackPair.CreateAsync();
        var address = IPAddress.Parse("fd00::1:2");
        await pair.Client.WriteAsync(Concat(Greeting, [0x05, 0x01, 0x00, 0x04], address.GetAddressBytes(), [0x01, 0xBB]));

        var request = await Socks5Handshake.ReadRequestAsync(pair.Server, CancellationToken.None).AsTask().WaitAsync(Deadline);

        Assert.Equal(new IPEndPoint(address, 443), request.Address);
        Assert.Null(request.Host);
        Assert.Equal(443, request.Port);
    }

    [Fact]
    [Trait("case", "SOCKS-03")]
    public async Task SOCKS_03_a_domain_connect_is_parsed_and_nothing_after_the_request_is_consumed()
    {
        await using var pair = await LoopbackPair.CreateAsync();
        var host = "echo.default.svc.cluster.local"u8.ToArray();
        byte[] payload = [0xDE, 0xAD];
        await pair.Client.WriteAsync(Concat(Greeting, [0x05, 0x01, 0x00, 0x03, (byte)host.Length], host, [0x00, 0x50], payload));

        var request = await Socks5Handshake.ReadRequestAsync(pair.Server, CancellationToken.None).AsTask().WaitAsync(Deadline);

        Assert.Equal(new Socks5Request(null, "echo.default.svc.cluster.local", 80), request);
        var next = new byte[2];
        await pair.Server.ReadExactlyAsync(next).AsTask().WaitAsync(Deadline);
        Assert.Equal(payload, next);
    }

    [Theory]
    [Trait("case", "SOCKS-04")]
    [InlineData(0x02)] // BIND
    [InlineData(0x03)] // UDP ASSOCIATE
    public async Task SOCKS_04_a_command_other_than_connect_is_answered_07_and_throws(byte command)
    {
        await using var pair = await LoopbackPair.CreateAsync();
        await pair.Client.WriteAsync(Concat(Greeting, [0x05, command, 0x00, 0x01, 127, 0, 0, 1, 0x00, 0x50]));

        var error = await Assert.ThrowsAsync<Socks5Exception>(() => Socks5Handshake.ReadRequestAsync(pair.Server, CancellationToken.None).AsTask().WaitAsync(Deadline));

        Assert.Equal(Socks5Reply.CommandNotSupported, error.Reply);
        pair.Server.Close();
        Assert.Equal([0x05, 0x00, 0x05, 0x07, 0x00, 0x01, 0, 0, 0, 0, 0, 0], await pair.ReadToEndFromServerAsync());
    }

    [Fact]
    [Trait("case", "SOCKS-05")]
    public async Task SOCKS_05_without_the_no_auth_method_the_answer_is_05_FF_and_it_throws()
    {
        await using var pair = await LoopbackPair.CreateAsync();
        await pair.Client.WriteAsync(new byte[] { 0x05, 0x02, 0x01, 0x02 }); // GSSAPI, username/password

        var error = await Assert.ThrowsAsync<Socks5Exception>(() => Socks5Handshake.ReadRequestAsync(pair.Server, CancellationToken.None).AsTask().WaitAsync(Deadline));

        Assert.Equal(Socks5Reply.NotAllowed, error.Reply);
        pair.Server.Close();
        Assert.Equal([0x05, 0xFF], await pair.ReadToEndFromServerAsync());
    }

    [Fact]
    [Trait("case", "SOCKS-06")]
    public async Task SOCKS_06_an_unknown_address_type_is_answered_08_and_throws()
    {
        await using var pair = await LoopbackPair.CreateAsync();
        await pair.Client.WriteAsync(Concat(Greeting, [0x05, 0x01, 0x00, 0x09]));

        var error = await Assert.ThrowsAsync<Socks5Exception>(() => Socks5Handshake.ReadRequestAsync(pair.Server, CancellationToken.None).AsTask().WaitAsync(Deadline));

        Assert.Equal(Socks5Reply.AddressTypeNotSupported, error.Reply);
        pair.Server.Close();
        Assert.Equal([0x05, 0x00, 0x05, 0x08, 0x00, 0x01, 0, 0, 0, 0, 0, 0], await pair.ReadToEndFromServerAsync());
    }

    public static TheoryData<byte[]> Malformed() => new()
    {
        Array.Empty<byte>(),
        new byte[] { 0x05 },
        new byte[] { 0x05, 0x02, 0x00 },
        new byte[] { 0x04, 0x01, 0x00 },
        Concat(Greeting, [0x05, 0x01]),
        Concat(Greeting, [0x05, 0x01, 0x00, 0x01, 10, 1]),
        Concat(Greeting, [0x05, 0x01, 0x00, 0x01, 10, 1, 2, 3, 0x1F]),
        Concat(Greeting, [0x05, 0x01, 0x00, 0x04, 0xFD, 0, 0, 0]),
        Concat(Greeting, [0x05, 0x01, 0x00, 0x03]),
        Concat(Greeting, [0x05, 0x01, 0x00, 0x03, 0x05, (byte)'a', (byte)'b']),
        Concat(Greeting, [0x05, 0x01, 0x00, 0x03, 0x00, 0x00, 0x50]),
        Concat(Greeting, [0x05, 0x01, 0x00, 0x03, 0x03, (byte)'a', 0x00, (byte)'b', 0x00, 0x50]),
        Concat(Greeting, [0x04, 0x01, 0x00, 0x01, 10, 1, 2, 3, 0x00, 0x50]),
    };

    [Theory]
    [Trait("case", "SOCKS-07")]
    [MemberData(nameof(Malformed))]
    public async Task SOCKS_07_truncated_or_malformed_input_throws_a_typed_error_and_never_hangs(byte[] input)
    {
        await using var pair = await LoopbackPair.CreateAsync();
        await pair.Client.WriteAsync(input);
        pair.Client.Socket.Shutdown(SocketShutdown.Send);

        var error = await Assert.ThrowsAsync<Socks5Exception>(() => Socks5Handshake.ReadRequestAsync(pair.Server, CancellationToken.None).AsTask().WaitAsync(Deadline));

        Assert.Equal(Socks5Reply.GeneralFailure, error.Reply);
    }

    [Fact]
    [Trait("case", "SOCKS-08")]
    public async Task SOCKS_08_the_longest_request_255_byte_domain_is_read_whole()
    {
        await using var pair = await LoopbackPair.CreateAsync();
        var host = Enumerable.Repeat((byte)'a', 255).ToArray();
        await pair.Client.WriteAsync(Concat(Greeting, [0x05, 0x01, 0x00, 0x03, 0xFF], host, [0xFF, 0xFF]));

        var request = await Socks5Handshake.ReadRequestAsync(pair.Server, CancellationToken.None).AsTask().WaitAsync(Deadline);

        Assert.Equal(new string('a', 255), request.Host);
        Assert.Equal(65535, request.Port);
    }

    public static TheoryData<Socks5Reply, string?, byte[]> Replies() => new()
    {
        { Socks5Reply.Succeeded, null, [0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0] },
        { Socks5Reply.Succeeded, "10.0.0.7:40000", [0x05, 0x00, 0x00, 0x01, 10, 0, 0, 7, 0x9C, 0x40] },
        { Socks5Reply.ConnectionRefused, "[fd00::7]:443", [0x05, 0x05, 0x00, 0x04, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0x01, 0xBB] },
        { Socks5Reply.HostUnreachable, null, [0x05, 0x04, 0x00, 0x01, 0, 0, 0, 0, 0, 0] },
    };

    [Theory]
    [Trait("case", "SOCKS-09")]
    [MemberData(nameof(Replies))]
    public async Task SOCKS_09_reply_bytes_are_exact(Socks5Reply reply, string? bound, byte[] expected)
    {
        using var stream = new MemoryStream();
        await Socks5Handshake.WriteReplyAsync(stream, reply, bound is null ? null : IPEndPoint.Parse(bound), CancellationToken.None);
        Assert.Equal(expected, stream.ToArray());
    }

    [Fact]
    public void The_reply_codes_are_those_of_RFC_1928()
    {
        Assert.Equal(
            [0, 1, 2, 3, 4, 5, 6, 7, 8],
            new[]
            {
                Socks5Reply.Succeeded, Socks5Reply.GeneralFailure, Socks5Reply.NotAllowed, Socks5Reply.NetworkUnreachable,
                Socks5Reply.HostUnreachable, Socks5Reply.ConnectionRefused, Socks5Reply.TtlExpired,
                Socks5Reply.CommandNotSupported, Socks5Reply.AddressTypeNotSupported,
            }.Select(r => (int)r));
    }

    private static byte[] Concat(params byte[][] parts) => [.. parts.SelectMany(p => p)];
}
