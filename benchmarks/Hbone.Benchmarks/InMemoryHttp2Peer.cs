using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;

namespace Hbone.Benchmarks;

/// <summary>
/// The server end of an in-memory HTTP/2 connection for benchmarks: answers with SETTINGS, then returns
/// flow-control credit for every DATA byte the client writes, like a peer that reads as fast as it can.
/// </summary>
internal sealed class InMemoryHttp2Peer : Stream
{
    private readonly Pipe _toClient = new(new PipeOptions(pauseWriterThreshold: 0, useSynchronizationContext: false));
    private readonly Stream _reader;
    private readonly byte[] _header = new byte[9];
    private int _headerFill;
    private int _payloadLeft;
    private bool _payloadIsData;
    private int _payloadStream;
    private long _uncredited;

    public InMemoryHttp2Peer()
    {
        _reader = _toClient.Reader.AsStream();
        Span<byte> settings = stackalloc byte[9 + 6];
        WriteFrameHeader(settings, 6, 0x4, 0, 0);
        BinaryPrimitives.WriteUInt16BigEndian(settings[9..], 0x4);
        BinaryPrimitives.WriteUInt32BigEndian(settings[11..], int.MaxValue);
        Send(settings);
        SendWindowUpdate(0, int.MaxValue - 65535);
    }

    public long DataBytes { get; private set; }

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => _reader.ReadAsync(buffer, cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => _reader.Read(buffer, offset, count);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Consume(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override void Write(byte[] buffer, int offset, int count) => Consume(buffer.AsSpan(offset, count));

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        _toClient.Writer.Complete();
        base.Dispose(disposing);
    }

    private void Consume(ReadOnlySpan<byte> data)
    {
        // Skip the 24-byte preface by treating it as payload of a pseudo frame.
        while (!data.IsEmpty)
        {
            if (_payloadLeft > 0)
            {
                var take = Math.Min(_payloadLeft, data.Length);
                if (_payloadIsData)
                {
                    DataBytes += take;
                    _uncredited += take;
                }

                _payloadLeft -= take;
                data = data[take..];
                continue;
            }

            var need = Math.Min(9 - _headerFill, data.Length);
            data[..need].CopyTo(_header.AsSpan(_headerFill));
            _headerFill += need;
            data = data[need..];
            if (_headerFill < 9)
            {
                continue;
            }

            _headerFill = 0;
            if (_header[0] == (byte)'P' && _header[1] == (byte)'R' && _header[2] == (byte)'I')
            {
                _payloadLeft = 24 - 9;
                _payloadIsData = false;
                continue;
            }

            _payloadLeft = (_header[0] << 16) | (_header[1] << 8) | _header[2];
            _payloadIsData = _header[3] == 0x0;
            _payloadStream = BinaryPrimitives.ReadInt32BigEndian(_header.AsSpan(5)) & int.MaxValue;
            if (_uncredited >= 1024 * 1024)
            {
                SendWindowUpdate(0, (int)_uncredited);
                SendWindowUpdate(_payloadStream == 0 ? 1 : _payloadStream, (int)_uncredited);
                _uncredited = 0;
            }
        }
    }

    private void SendWindowUpdate(int stream, int increment)
    {
        Span<byte> frame = stackalloc byte[13];
        WriteFrameHeader(frame, 4, 0x8, 0, stream);
        BinaryPrimitives.WriteInt32BigEndian(frame[9..], increment);
        Send(frame);
    }

    private void Send(ReadOnlySpan<byte> frame)
    {
        _toClient.Writer.Write(frame);
        _ = _toClient.Writer.FlushAsync();
    }

    private static void WriteFrameHeader(Span<byte> destination, int length, byte type, byte flags, int stream)
    {
        destination[0] = (byte)(length >> 16);
        destination[1] = (byte)(length >> 8);
        destination[2] = (byte)length;
        destination[3] = type;
        destination[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(destination[5..], stream);
    }
}
