using System.Net;

namespace Hbone.Protocol;

/// <summary>The RFC 7239 §6 node syntax used by the <c>for</c> and <c>by</c> parameters.</summary>
internal static class ForwardedNode
{
    /// <summary>Validates <c>nodename [":" node-port]</c>; <paramref name="endPoint"/> is set when the node name is an IP address.</summary>
    public static bool TryParse(ReadOnlySpan<char> node, out IPEndPoint? endPoint)
    {
        endPoint = null;
        IPAddress? address = null;
        ReadOnlySpan<char> rest;
        if (!node.IsEmpty && node[0] == '[')
        {
            int close = node.IndexOf(']');
            if (close < 0 || (address = AddressText.TryParseIPv6(node[1..close])) is null)
            {
                return false;
            }
            rest = node[(close + 1)..];
        }
        else
        {
            int colon = node.IndexOf(':');
            ReadOnlySpan<char> name = colon < 0 ? node : node[..colon];
            rest = colon < 0 ? default : node[colon..];
            if (AddressText.TryParseIPv4(name, out uint ipv4))
            {
                address = AddressText.FromHostOrder(ipv4);
            }
            else if (!name.Equals("unknown", StringComparison.OrdinalIgnoreCase) && !IsObfuscated(name))
            {
                return false;
            }
        }
        int port = 0;
        if (!rest.IsEmpty)
        {
            ReadOnlySpan<char> portText = rest[1..];
            if (rest[0] != ':' || !(IsObfuscated(portText) || AddressText.TryParsePort(portText, allowLeadingZero: true, out port)))
            {
                return false;
            }
        }
        if (address is not null)
        {
            endPoint = new IPEndPoint(address, port);
        }
        return true;
    }

    /// <summary>True for <c>"_" 1*(ALPHA / DIGIT / "." / "_" / "-")</c>.</summary>
    public static bool IsObfuscated(ReadOnlySpan<char> text)
    {
        if (text.Length < 2 || text[0] != '_')
        {
            return false;
        }
        foreach (char c in text[1..])
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('.' or '_' or '-'))
            {
                return false;
            }
        }
        return true;
    }
}
