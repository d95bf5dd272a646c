using System.Net;
using System.Net.Sockets;

namespace Hbone.Protocol;

/// <summary>Strict textual IP parsing shared by the authority and <c>Forwarded</c> parsers.</summary>
internal static class AddressText
{
    /// <summary>Parses exactly four decimal octets without leading zeros (IPAddress.TryParse also accepts "1", "0x7f.1" and octal).</summary>
    public static bool TryParseIPv4(ReadOnlySpan<char> text, out uint hostOrder)
    {
        hostOrder = 0;
        int octets = 0;
        int i = 0;
        while (true)
        {
            int start = i;
            int value = 0;
            while (i < text.Length && char.IsAsciiDigit(text[i]) && i - start < 3)
            {
                value = (value * 10) + (text[i] - '0');
                i++;
            }
            int digits = i - start;
            if (digits == 0 || value > 255 || (digits > 1 && text[start] == '0'))
            {
                return false;
            }
            hostOrder = (hostOrder << 8) | (uint)value;
            octets++;
            if (octets == 4)
            {
                return i == text.Length;
            }
            if (i >= text.Length || text[i] != '.')
            {
                return false;
            }
            i++;
        }
    }

    /// <summary>Creates an IPv4 address from a host-order value.</summary>
    public static IPAddress FromHostOrder(uint hostOrder)
    {
        Span<byte> bytes = [(byte)(hostOrder >> 24), (byte)(hostOrder >> 16), (byte)(hostOrder >> 8), (byte)hostOrder];
        return new IPAddress(bytes);
    }

    /// <summary>Parses IPv6 text without brackets or zone id; pre-filters characters because IPAddress.TryParse accepts "/64" suffixes and zones.</summary>
    public static IPAddress? TryParseIPv6(ReadOnlySpan<char> text)
    {
        if (text.Length < 2 || text.Length > 45)
        {
            return null;
        }
        foreach (char c in text)
        {
            if (!char.IsAsciiHexDigit(c) && c != ':' && c != '.')
            {
                return null;
            }
        }
        return IPAddress.TryParse(text, out IPAddress? address) && address.AddressFamily == AddressFamily.InterNetworkV6
            ? address
            : null;
    }

    /// <summary>Parses a decimal port of 1..5 digits; rejects signs, spaces and (when <paramref name="allowLeadingZero"/> is false) leading zeros.</summary>
    public static bool TryParsePort(ReadOnlySpan<char> text, bool allowLeadingZero, out int port)
    {
        port = 0;
        if (text.Length is 0 or > 5 || (!allowLeadingZero && text.Length > 1 && text[0] == '0'))
        {
            return false;
        }
        foreach (char c in text)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
            port = (port * 10) + (c - '0');
        }
        return port <= 65535;
    }

    /// <summary>Returns the address without its IPv6 scope id, which no header or authority can carry.</summary>
    public static IPAddress WithoutScope(IPAddress address)
    {
        if (address.AddressFamily != AddressFamily.InterNetworkV6 || address.ScopeId == 0)
        {
            return address;
        }
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        return new IPAddress(bytes);
    }
}
