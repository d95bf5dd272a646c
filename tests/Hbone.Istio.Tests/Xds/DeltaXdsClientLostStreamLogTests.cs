using System.Net.Sockets;
using Grpc.Core;
using Hbone.Istio.Xds;

namespace Hbone.Istio.Tests.Xds;

/// <summary>
/// What a lost xDS stream logs: an outage is one line and no stack trace (istiod restarting must not fill the log with
/// traces); anything unexpected keeps its exception, since it may be a bug.
/// </summary>
public sealed class DeltaXdsClientLostStreamLogTests
{
    [Fact]
    public void FT_01_The_server_closing_the_connection_under_a_write_is_one_line()
    {
        // As seen when istiod shuts down while the client reconnects: the request stream's write fails on GOAWAY(NO_ERROR).
        var closed = new HttpRequestException("The request was aborted.",
            new HttpProtocolException(0, "The HTTP/2 server closed the connection. HTTP/2 error code 'NO_ERROR' (0x0).", null));

        var (outcome, error) = DeltaXdsClient.DescribeLostStream(closed);

        Assert.Equal("HttpRequestException: The request was aborted. (The HTTP/2 server closed the connection. HTTP/2 error code 'NO_ERROR' (0x0). (HttpProtocolError))", outcome);
        Assert.Null(error);
    }

    [Fact]
    public void FT_01_A_refused_connection_is_one_line_with_the_status_and_its_cause()
    {
        var refused = new RpcException(new Status(StatusCode.Unavailable, "Error connecting to subchannel.", new SocketException((int)SocketError.ConnectionRefused, "Connection refused")));

        var (outcome, error) = DeltaXdsClient.DescribeLostStream(refused);

        Assert.Equal("Unavailable: Error connecting to subchannel. (Connection refused)", outcome);
        Assert.Null(error);
    }

    [Fact]
    public void FT_01_An_unexpected_exception_keeps_its_stack_trace()
    {
        var bug = new InvalidOperationException("Can't write the message because the call is complete.");

        var (outcome, error) = DeltaXdsClient.DescribeLostStream(bug);

        Assert.Equal("InvalidOperationException: Can't write the message because the call is complete.", outcome);
        Assert.Same(bug, error);
    }
}
