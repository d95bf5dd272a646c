using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Hbone.Protocol;

/// <summary>The <c>:authority</c> of an HBONE CONNECT: <c>ip:port</c>, <c>[ipv6]:port</c> or <c>host:port</c>.</summary>
/// <remarks>Parsing is strict: one canonical spelling per destination, so comparisons on <see cref="Host"/> are safe.</remarks>
public readonly struct HboneAuthority : IEquatable<HboneAuthority>
{
    // Null for an IP literal: its canonical text is the address's, made when asked for, so an open tunnel holds no copy.
    private readonly string? _host;

    private HboneAuthority(string? host, IPAddress? address, int port)
    {
        _host = host;
        Address = address;
        Port = port;
    }

    /// <summary>The IP address text without brackets (canonical form), or the host name in lowercase.</summary>
    public string Host => _host ?? Address?.ToString() ?? string.Empty;

    /// <summary>The address when <see cref="Host"/> is an IP literal; <see langword="null"/> for a host name.</summary>
    public IPAddress? Address { get; }

    /// <summary>The destination port, 1..65535.</summary>
    public int Port { get; }

    /// <summary>True when the authority names an IP address rather than a host name.</summary>
    public bool IsIPAddress => Address is not null;

    /// <summary>Parses an authority without throwing.</summary>
    /// <param name="value">The <c>:authority</c> pseudo-header value.</param>
    /// <param name="authority">The parsed authority, or <see langword="default"/> on failure.</param>
    /// <param name="error">Why parsing failed, or <see cref="AuthorityError.None"/>.</param>
    /// <returns>True when <paramref name="value"/> is a valid HBONE authority.</returns>
    public static bool TryParse(ReadOnlySpan<char> value, out HboneAuthority authority, out AuthorityError error)
    {
        authority = default;
        error = Classify(value, out string? host, out IPAddress? address, out int port);
        if (error != AuthorityError.None)
        {
            return false;
        }
        authority = new HboneAuthority(host, address, port);
        return true;
    }

    /// <summary>Parses an authority.</summary>
    /// <param name="value">The <c>:authority</c> pseudo-header value.</param>
    /// <returns>The parsed authority.</returns>
    /// <exception cref="HboneException">Reason <see cref="HboneErrorReason.InvalidAuthority"/>; the message names the <see cref="AuthorityError"/>.</exception>
    public static HboneAuthority Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (!TryParse(value, out HboneAuthority authority, out AuthorityError error))
        {
            // The value itself is not echoed: it is peer-controlled and ends up in logs.
            throw new HboneException(HboneErrorReason.InvalidAuthority, $"Invalid :authority ({error}).");
        }
        return authority;
    }

    /// <summary>Creates the authority for a socket address (the scope id of an IPv6 address is dropped).</summary>
    /// <param name="endPoint">The destination; its port must be 1..65535.</param>
    /// <returns>The authority naming <paramref name="endPoint"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The port is 0.</exception>
    public static HboneAuthority FromEndPoint(IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        ArgumentOutOfRangeException.ThrowIfZero(endPoint.Port);
        IPAddress address = AddressText.WithoutScope(endPoint.Address);
        return new HboneAuthority(null, address, endPoint.Port);
    }

    /// <summary>The socket address, or <see langword="null"/> when the authority is a host name.</summary>
    /// <returns>A new endpoint for <see cref="Address"/> and <see cref="Port"/>.</returns>
    public IPEndPoint? ToIPEndPoint() => Address is null ? null : new IPEndPoint(Address, Port);

    /// <summary>The wire form: <c>10.0.0.1:80</c>, <c>[fd00::1]:80</c>, <c>echo.default.svc.cluster.local:80</c>.</summary>
    /// <returns>The authority text.</returns>
    public override string ToString() => Address?.AddressFamily == AddressFamily.InterNetworkV6
        ? $"[{Host}]:{Port}"
        : $"{Host}:{Port}";

    /// <inheritdoc/>
    public bool Equals(HboneAuthority other) => Port == other.Port && (Address is { } address
        ? address.Equals(other.Address)
        : other.Address is null && string.Equals(Host, other.Host, StringComparison.Ordinal));

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is HboneAuthority other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Address?.GetHashCode() ?? StringComparer.Ordinal.GetHashCode(Host), Port);

    /// <summary>True when both authorities name the same host and port.</summary>
    /// <param name="left">The first authority.</param>
    /// <param name="right">The second authority.</param>
    /// <returns>Whether they are equal.</returns>
    public static bool operator ==(HboneAuthority left, HboneAuthority right) => left.Equals(right);

    /// <summary>True when the authorities differ in host or port.</summary>
    /// <param name="left">The first authority.</param>
    /// <param name="right">The second authority.</param>
    /// <returns>Whether they differ.</returns>
    public static bool operator !=(HboneAuthority left, HboneAuthority right) => !left.Equals(right);

    private static AuthorityError Classify(ReadOnlySpan<char> value, out string? host, out IPAddress? address, out int port)
    {
        host = null;
        address = null;
        port = 0;
        if (value.IsEmpty)
        {
            return AuthorityError.Empty;
        }
        if (value.Contains('@'))
        {
            return AuthorityError.UserInfo;
        }
        ReadOnlySpan<char> portText;
        bool hasPort;
        if (value[0] == '[')
        {
            int close = value.IndexOf(']');
            if (close < 0)
            {
                return AuthorityError.InvalidIPv6;
            }
            address = AddressText.TryParseIPv6(value[1..close]);
            if (address is null)
            {
                return AuthorityError.InvalidIPv6;
            }
            ReadOnlySpan<char> rest = value[(close + 1)..];
            if (!rest.IsEmpty && rest[0] != ':')
            {
                return AuthorityError.InvalidHost;
            }
            hasPort = !rest.IsEmpty;
            portText = hasPort ? rest[1..] : default;
        }
        else
        {
            int colon = value.LastIndexOf(':');
            ReadOnlySpan<char> hostText = colon < 0 ? value : value[..colon];
            if (hostText.Contains(':'))
            {
                return LooksLikeIPv6(value) || LooksLikeIPv6(hostText) ? AuthorityError.BracketlessIPv6 : AuthorityError.InvalidHost;
            }
            AuthorityError hostError = ClassifyHost(hostText, out host, out address);
            if (hostError != AuthorityError.None)
            {
                return hostError;
            }
            hasPort = colon >= 0;
            portText = hasPort ? value[(colon + 1)..] : default;
        }
        if (!hasPort || portText.IsEmpty)
        {
            return AuthorityError.MissingPort;
        }
        if (!AddressText.TryParsePort(portText, allowLeadingZero: false, out port) || port == 0)
        {
            return AuthorityError.InvalidPort;
        }
        return AuthorityError.None;
    }

    private static AuthorityError ClassifyHost(ReadOnlySpan<char> hostText, out string? host, out IPAddress? address)
    {
        host = null;
        address = null;
        if (hostText.IsEmpty)
        {
            return AuthorityError.InvalidHost;
        }
        if (AddressText.TryParseIPv4(hostText, out uint ipv4))
        {
            // Canonical (no leading zeros), so the address's own text is the host text.
            address = AddressText.FromHostOrder(ipv4);
            return AuthorityError.None;
        }
        if (hostText.Length > HostName.MaxLength)
        {
            return AuthorityError.HostTooLong;
        }
        if (!HostName.IsValid(hostText))
        {
            return AuthorityError.InvalidHost;
        }
        Span<char> lower = stackalloc char[hostText.Length];
        Ascii.ToLower(hostText, lower, out int written);
        host = lower[..written].ToString();
        return AuthorityError.None;
    }

    private static bool LooksLikeIPv6(ReadOnlySpan<char> text)
    {
        // A zone id ("%eth0") does not make bracketless IPv6 any more acceptable; judge the address part.
        int zone = text.IndexOf('%');
        return AddressText.TryParseIPv6(zone < 0 ? text : text[..zone]) is not null;
    }
}
