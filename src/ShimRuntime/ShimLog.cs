using Csshim.TarLayer.Posix;
using System.Text;
using System.Text.Json.Nodes;
using Csshim.ShimRuntime.Cli;
using Microsoft.Win32.SafeHandles;

namespace Csshim.ShimRuntime;

/// <summary>csshim's own messages. Errors also go to the caller's --log file in the runtime's log format, because
/// containerd's shim and conmon show the last error line of that file as the reason a create failed.</summary>
internal sealed class ShimLog
{
    private string? logPath;
    private bool json;

    public void WriteTo(string? path, string? format)
    {
        logPath = path;
        json = format == "json";
    }

    public void Error(string message) => Emit("error", message);
    public void Warning(string message) => Emit("warning", message);

    private void Emit(string level, string message)
    {
        Console.Error.WriteLine($"csshim: {message}");
        if (logPath is null) return;
        // The path came in argv: opened by its bytes, so a name that is not UTF-8 is the caller's file, not another.
        int fd = Linux.Open(RawArgv.Encode(logPath), Linux.O_WRONLY | Linux.O_APPEND | Linux.O_CREAT, 0x1A4 /* 0644 */);
        if (fd < 0)
        {
            Console.Error.WriteLine($"csshim: cannot write log {logPath}: {Linux.Error(Linux.LastErrno)}");
            return;
        }
        using var file = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            RandomAccess.Write(file, Encoding.UTF8.GetBytes(FormatLine(level, "csshim: " + message, DateTimeOffset.UtcNow, json) + "\n"), 0);
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"csshim: cannot write log {logPath}: {e.Message}");
        }
    }

    /// <summary>One log line as runc writes it: logrus JSON, or logrus text for the default format.</summary>
    public static string FormatLine(string level, string message, DateTimeOffset time, bool json)
    {
        var stamp = time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'");
        if (json)
            return new JsonObject { ["level"] = level, ["msg"] = message, ["time"] = stamp }.ToJsonString();
        var quoted = message.Replace("\\", "\\\\").Replace("\"", "\\\"");
        return $"time=\"{stamp}\" level={level} msg=\"{quoted}\"";
    }
}
