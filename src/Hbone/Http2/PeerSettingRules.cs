namespace Hbone.Http2;

/// <summary>The checks RFC 9113 §6.5 puts on a peer's SETTINGS frames and values, shared by the client and the server engine.</summary>
internal static class PeerSettingRules
{
    /// <summary>Throws the connection error a malformed SETTINGS frame calls for; true when it is an ACK (nothing to apply).</summary>
    public static bool ValidateFrame(in FrameHeader header)
    {
        if (header.StreamId != 0)
        {
            throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, "SETTINGS on a stream.");
        }

        if (header.HasFlag(FrameFlags.Ack))
        {
            return header.Length == 0
                ? true
                : throw new Http2ProtocolException(Http2ErrorCode.FrameSizeError, "SETTINGS ACK with a payload.");
        }

        return header.Length % 6 == 0
            ? false
            : throw new Http2ProtocolException(Http2ErrorCode.FrameSizeError, "SETTINGS length is not a multiple of 6.");
    }

    /// <summary>Throws the connection error a value out of its range calls for; other settings pass unchecked.</summary>
    public static void Validate(ushort id, uint value)
    {
        switch (id)
        {
            case SettingId.EnablePush when value > 1:
                throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, "SETTINGS_ENABLE_PUSH must be 0 or 1.");
            case SettingId.InitialWindowSize when value > int.MaxValue:
                throw new Http2ProtocolException(Http2ErrorCode.FlowControlError, "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1.");
            case SettingId.MaxFrameSize when value is < FrameHeader.MinMaxFrameSize or > FrameHeader.MaxMaxFrameSize:
                throw new Http2ProtocolException(Http2ErrorCode.ProtocolError, $"SETTINGS_MAX_FRAME_SIZE {value} out of range.");
        }
    }
}
