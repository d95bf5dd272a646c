using System.Net.Sockets;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Microsoft.Win32.SafeHandles;

namespace Hbone.Ztunnel.Zds;

/// <summary>
/// One ZDS connection: a Unix SOCK_SEQPACKET socket where every message is one datagram, and an AddWorkload
/// carries the pod's network namespace as an SCM_RIGHTS file descriptor. Calls block; run them off the hot path.
/// </summary>
public sealed unsafe partial class ZdsSocket : IDisposable
{
    private const int MaxMessage = 64 * 1024;
    private const int SolSocket = 1;
    private const int ScmRights = 1;
    private const int MsgCtrunc = 0x8;
    private const int MsgCmsgCloexec = 0x40000000;
    private const int MsgNoSignal = 0x4000;
    private const int CmsgHeaderSize = 16;
    private const int SoReceiveTimeout = 20;
    private const int SoSendTimeout = 21;
    private const int EAgain = 11;

    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[MaxMessage];

    internal ZdsSocket(Socket socket)
    {
        _socket = socket;
        _socket.Blocking = true;
    }

    /// <summary>Connects to the node agent's socket (the ztunnel side).</summary>
    public static ZdsSocket Connect(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Seqpacket, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(path));
            return new ZdsSocket(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Bounds every later blocking send and receive (SO_RCVTIMEO and SO_SNDTIMEO): a call that waits longer throws
    /// <see cref="TimeoutException"/>, so that a peer that stops answering cannot hold the connection's thread forever.
    /// </summary>
    public void SetTimeout(TimeSpan timeout)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        var microseconds = (long)Math.Ceiling(timeout.TotalMicroseconds);
        var value = new TimeVal { Seconds = (nint)(microseconds / 1_000_000), Microseconds = (nint)(microseconds % 1_000_000) };
        var bytes = new ReadOnlySpan<byte>(&value, sizeof(TimeVal));
        _socket.SetRawSocketOption(SolSocket, SoReceiveTimeout, bytes);
        _socket.SetRawSocketOption(SolSocket, SoSendTimeout, bytes);
    }

    /// <summary>Sends one message, with <paramref name="fd"/> attached as SCM_RIGHTS when given.</summary>
    public void Send(IMessage message, SafeHandle? fd = null)
    {
        var length = message.CalculateSize();
        if (length > MaxMessage)
        {
            throw new InvalidOperationException($"ZDS message of {length} bytes exceeds {MaxMessage}.");
        }

        message.WriteTo(_buffer.AsSpan(0, length));
        var control = stackalloc byte[24];
        fixed (byte* data = _buffer)
        {
            var iov = new IoVec { Base = data, Length = (nuint)length };
            var header = new MsgHdr { Iov = &iov, IovLen = 1 };
            var added = false;
            try
            {
                if (fd is not null)
                {
                    fd.DangerousAddRef(ref added);
                    var cmsg = (CmsgHdr*)control;
                    cmsg->Len = CmsgHeaderSize + sizeof(int);
                    cmsg->Level = SolSocket;
                    cmsg->Type = ScmRights;
                    *(int*)(control + CmsgHeaderSize) = fd.DangerousGetHandle().ToInt32();
                    header.Control = control;
                    header.ControlLen = 24;
                }

                if (sendmsg(_socket.SafeHandle, &header, MsgNoSignal) < 0)
                {
                    throw Failure("send");
                }
            }
            finally
            {
                if (added)
                {
                    fd!.DangerousRelease();
                }
            }
        }
    }

    /// <summary>
    /// Receives one message and the file descriptors sent with it; null when the peer closed the connection.
    /// The caller owns the returned handles.
    /// </summary>
    public ZdsDatagram<T>? Receive<T>(MessageParser<T> parser)
        where T : IMessage<T>
    {
        var control = stackalloc byte[64];
        nint received;
        MsgHdr header;
        fixed (byte* data = _buffer)
        {
            var iov = new IoVec { Base = data, Length = MaxMessage };
            header = new MsgHdr { Iov = &iov, IovLen = 1, Control = control, ControlLen = 64 };
            received = recvmsg(_socket.SafeHandle, &header, MsgCmsgCloexec);
        }

        if (received < 0)
        {
            throw Failure("receive");
        }

        var fds = ReadDescriptors(control, (int)header.ControlLen);
        if (received == 0 && fds.Count == 0)
        {
            return null;
        }

        if ((header.Flags & MsgCtrunc) != 0)
        {
            fds.ForEach(f => f.Dispose());
            throw new InvalidDataException("ZDS ancillary data was truncated: too many file descriptors.");
        }

        try
        {
            return new ZdsDatagram<T>(parser.ParseFrom(_buffer, 0, (int)received), fds);
        }
        catch (InvalidProtocolBufferException)
        {
            fds.ForEach(f => f.Dispose());
            throw;
        }
    }

    /// <summary>Stops blocked sends and receives, then closes the socket; a second call does nothing.</summary>
    public void Dispose()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // The owner's loop and its disposer may both close it (ZdsClient.DisposeAsync races the loop's own using).
        }

        _socket.Dispose();
    }

    /// <summary>The error of the last failed call: a timeout set by <see cref="SetTimeout"/> surfaces as EAGAIN.</summary>
    private static Exception Failure(string operation)
    {
        var errno = Marshal.GetLastPInvokeError();
        return errno == EAgain
            ? new TimeoutException($"ZDS {operation} timed out: the peer did not answer in time.")
            : new SocketException(errno);
    }

    private static List<SafeFileHandle> ReadDescriptors(byte* control, int length)
    {
        var fds = new List<SafeFileHandle>();
        var offset = 0;
        while (offset + CmsgHeaderSize <= length)
        {
            var cmsg = (CmsgHdr*)(control + offset);
            if ((int)cmsg->Len < CmsgHeaderSize)
            {
                break;
            }

            if (cmsg->Level == SolSocket && cmsg->Type == ScmRights)
            {
                var count = ((int)cmsg->Len - CmsgHeaderSize) / sizeof(int);
                for (var i = 0; i < count; i++)
                {
                    fds.Add(new SafeFileHandle(*(int*)(control + offset + CmsgHeaderSize + (i * sizeof(int))), ownsHandle: true));
                }
            }

            offset += ((int)cmsg->Len + 7) & ~7;
        }

        return fds;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeVal
    {
        public nint Seconds;
        public nint Microseconds;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLen;
        public void* Control;
        public nuint ControlLen;
        public int Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct CmsgHdr
    {
        public nuint Len;
        public int Level;
        public int Type;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint sendmsg(SafeHandle socket, MsgHdr* message, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint recvmsg(SafeHandle socket, MsgHdr* message, int flags);
}

/// <summary>A received ZDS message and the file descriptors that came with it (owned by the receiver).</summary>
/// <typeparam name="T">The message type.</typeparam>
public sealed record ZdsDatagram<T>(T Message, IReadOnlyList<SafeFileHandle> FileDescriptors);
