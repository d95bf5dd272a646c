using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;

namespace Hbone.Protocol;

/// <summary>A W3C Trace Context <c>traceparent</c> header (version 00) tying a tunnel to a trace.</summary>
/// <remarks>
/// The ids are kept as numbers, not as <see cref="ActivityTraceId"/>/<see cref="ActivitySpanId"/>, which hold their hex
/// text: every open tunnel carries one of these on each side, and the text would be two strings (140 B) per tunnel.
/// </remarks>
public readonly struct TraceParent : IEquatable<TraceParent>
{
    /// <summary>Length of a version 00 value: <c>00-</c> + 32 + <c>-</c> + 16 + <c>-</c> + 2.</summary>
    public const int Length = 55;

    private readonly ulong _traceHigh;
    private readonly ulong _traceLow;
    private readonly ulong _span;
    private readonly ActivityTraceFlags _flags;

    /// <summary>Creates a trace parent from its parts.</summary>
    /// <param name="traceId">The trace id.</param>
    /// <param name="spanId">The parent span id.</param>
    /// <param name="flags">The trace flags.</param>
    public TraceParent(ActivityTraceId traceId, ActivitySpanId spanId, ActivityTraceFlags flags)
    {
        Span<byte> bytes = stackalloc byte[24];
        traceId.CopyTo(bytes[..16]);
        spanId.CopyTo(bytes[16..]);
        this = FromIds(bytes, flags);
    }

    private TraceParent(ulong traceHigh, ulong traceLow, ulong span, ActivityTraceFlags flags) =>
        (_traceHigh, _traceLow, _span, _flags) = (traceHigh, traceLow, span, flags);

    /// <summary>The 16-byte trace id (created on each call).</summary>
    public ActivityTraceId TraceId
    {
        get
        {
            Span<byte> bytes = stackalloc byte[16];
            BinaryPrimitives.WriteUInt64BigEndian(bytes, _traceHigh);
            BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], _traceLow);
            return ActivityTraceId.CreateFromBytes(bytes);
        }
    }

    /// <summary>The 8-byte id of the parent span (created on each call).</summary>
    public ActivitySpanId SpanId
    {
        get
        {
            Span<byte> bytes = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(bytes, _span);
            return ActivitySpanId.CreateFromBytes(bytes);
        }
    }

    /// <summary>The trace flags (bit 0: sampled).</summary>
    public ActivityTraceFlags Flags => _flags;

    /// <summary>Parses a <c>traceparent</c> value without throwing.</summary>
    /// <param name="value">The header value: <c>00-&lt;32 hex&gt;-&lt;16 hex&gt;-&lt;2 hex&gt;</c>, lowercase.</param>
    /// <param name="traceParent">The parsed value, or <see langword="default"/> on failure.</param>
    /// <returns>False for a wrong length, uppercase or non-hex digits, all-zero ids, or version <c>ff</c>.</returns>
    /// <remarks>Versions after 00 are read as 00 when they have the 00 layout followed by nothing or <c>-</c> (W3C forward compatibility).</remarks>
    public static bool TryParse(ReadOnlySpan<char> value, out TraceParent traceParent)
    {
        traceParent = default;
        if (value.Length < Length || value[2] != '-' || value[35] != '-' || value[52] != '-')
        {
            return false;
        }
        ReadOnlySpan<char> version = value[..2];
        ReadOnlySpan<char> traceId = value.Slice(3, 32);
        ReadOnlySpan<char> spanId = value.Slice(36, 16);
        ReadOnlySpan<char> flags = value.Slice(53, 2);
        if (!IsLowerHex(version) || version.SequenceEqual("ff") || !IsLowerHex(traceId) || !IsLowerHex(spanId) || !IsLowerHex(flags))
        {
            return false;
        }
        bool v00 = version.SequenceEqual("00");
        if (value.Length != Length && (v00 || value[Length] != '-'))
        {
            return false;
        }
        if (!traceId.ContainsAnyExcept('0') || !spanId.ContainsAnyExcept('0'))
        {
            return false;
        }
        int flagBits = (HexValue(flags[0]) << 4) | HexValue(flags[1]);
        traceParent = new TraceParent(Hex(traceId[..16]), Hex(traceId[16..]), Hex(spanId), (ActivityTraceFlags)flagBits);
        return true;
    }

    /// <summary>Creates a new random trace and span id with flags 00, as ztunnel sends per outbound connection.</summary>
    /// <returns>A new trace parent.</returns>
    public static TraceParent CreateRandom()
    {
        // An all-zero id is invalid (W3C): drawn again, which in practice never happens.
        Span<byte> bytes = stackalloc byte[24];
        TraceParent random;
        do
        {
            Random.Shared.NextBytes(bytes);
            random = FromIds(bytes, ActivityTraceFlags.None);
        }
        while ((random._traceHigh | random._traceLow) == 0 || random._span == 0);

        return random;
    }

    /// <summary>The header value: <c>00-&lt;32 hex&gt;-&lt;16 hex&gt;-&lt;2 hex&gt;</c>.</summary>
    /// <returns>The 55-character value.</returns>
    public override string ToString() => string.Create(Length, this, static (span, self) =>
    {
        "00-".CopyTo(span);
        self._traceHigh.TryFormat(span[3..], out _, "x16", CultureInfo.InvariantCulture);
        self._traceLow.TryFormat(span[19..], out _, "x16", CultureInfo.InvariantCulture);
        span[35] = '-';
        self._span.TryFormat(span[36..], out _, "x16", CultureInfo.InvariantCulture);
        span[52] = '-';
        ((int)self._flags & 0xff).TryFormat(span[53..], out _, "x2", CultureInfo.InvariantCulture);
    });

    /// <inheritdoc/>
    public bool Equals(TraceParent other) =>
        _traceHigh == other._traceHigh && _traceLow == other._traceLow && _span == other._span && _flags == other._flags;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is TraceParent other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(_traceHigh, _traceLow, _span, _flags);

    /// <summary>True when both values carry the same ids and flags.</summary>
    /// <param name="left">The first value.</param>
    /// <param name="right">The second value.</param>
    /// <returns>Whether they are equal.</returns>
    public static bool operator ==(TraceParent left, TraceParent right) => left.Equals(right);

    /// <summary>True when the values differ in an id or the flags.</summary>
    /// <param name="left">The first value.</param>
    /// <param name="right">The second value.</param>
    /// <returns>Whether they differ.</returns>
    public static bool operator !=(TraceParent left, TraceParent right) => !left.Equals(right);

    private static bool IsLowerHex(ReadOnlySpan<char> text)
    {
        foreach (char c in text)
        {
            if (!char.IsAsciiDigit(c) && c is not (>= 'a' and <= 'f'))
            {
                return false;
            }
        }
        return true;
    }

    private static int HexValue(char c) => c <= '9' ? c - '0' : c - 'a' + 10;

    // The 16-byte trace id then the 8-byte span id, big-endian as on the wire.
    private static TraceParent FromIds(ReadOnlySpan<byte> ids, ActivityTraceFlags flags) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(ids), BinaryPrimitives.ReadUInt64BigEndian(ids[8..]), BinaryPrimitives.ReadUInt64BigEndian(ids[16..]), flags);

    // 16 lowercase hex digits, already checked by the caller.
    private static ulong Hex(ReadOnlySpan<char> digits)
    {
        ulong value = 0;
        foreach (char c in digits)
        {
            value = (value << 4) | (uint)HexValue(c);
        }

        return value;
    }
}
