using System.Globalization;
using System.Security.Authentication;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Protocol;

/// <summary>What the server did about one request stream, as seen on the wire.</summary>
internal enum AnswerKind
{
    /// <summary>Response HEADERS with a <c>:status</c>.</summary>
    Status,
    /// <summary>RST_STREAM on the stream.</summary>
    Reset,
    /// <summary>GOAWAY on the connection.</summary>
    GoAway,
    /// <summary>The connection closed without any of the above.</summary>
    Closed,
}

internal sealed record ServerAnswer(AnswerKind Kind, int Code)
{
    public static ServerAnswer Status(int status) => new(AnswerKind.Status, status);

    public static ServerAnswer Reset(int code) => new(AnswerKind.Reset, code);

    public static ServerAnswer GoAway(int code) => new(AnswerKind.GoAway, code);

    public override string ToString() => $"{Kind} 0x{Code:x} ({Code})";

    /// <summary>
    /// Reads raw frames (answering SETTINGS and PING) until the server answers <paramref name="streamId"/> with
    /// HEADERS or RST_STREAM, sends GOAWAY, or closes the connection; within <paramref name="timeout"/>.
    /// </summary>
    public static async Task<ServerAnswer> ReadAsync(RawHttp2Connection connection, int streamId, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(15));
        Http2Frame? frame;
        try
        {
            frame = await connection.ReadUntilAsync(
                f => f.Type == FrameType.GoAway || (f.StreamId == streamId && f.Type is FrameType.Headers or FrameType.RstStream),
                cts.Token).WaitAsync(cts.Token);
        }
        catch (Exception ex) when (ex is IOException or AuthenticationException)
        {
            return new ServerAnswer(AnswerKind.Closed, 0);
        }

        switch (frame?.Type)
        {
            case null:
                return new ServerAnswer(AnswerKind.Closed, 0);
            case FrameType.GoAway:
                return GoAway(frame.ErrorCode);
            case FrameType.RstStream:
                return Reset(frame.ErrorCode);
            default:
                var headers = connection.DecodeHeaders(frame.Payload);
                return Status(int.Parse(headers.Find(h => h.Name == ":status").Value, CultureInfo.InvariantCulture));
        }
    }

    /// <summary>Reads until the connection closes (EOF or reset), returning the GOAWAY seen on the way, if any.</summary>
    public static async Task<Http2Frame?> ReadGoAwayThenCloseAsync(RawHttp2Connection connection, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(15));
        Http2Frame? goAway = null;
        try
        {
            while (await connection.ReadFrameAsync(cts.Token).WaitAsync(cts.Token) is { } frame)
            {
                if (frame.Type == FrameType.GoAway)
                {
                    goAway ??= frame;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or AuthenticationException)
        {
            // A reset after the GOAWAY is still a closed connection.
        }

        return goAway;
    }
}
