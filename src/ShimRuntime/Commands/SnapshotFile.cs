using Csshim.ShimRuntime.Native;
using Microsoft.Win32.SafeHandles;

namespace Csshim.ShimRuntime.Commands;

/// <summary>The archive file of `tar rootfs-upper --file F`: written as an unnamed O_TMPFILE in F's directory and
/// given its name only when complete, so a snapshot that fails or is killed leaves neither half an archive under F
/// nor a stray temp file; the mode is runsc's 0644 whatever the umask.</summary>
internal static class SnapshotFile
{
    private const uint Mode = 0x1A4; // 0644

    public static void Write(string file, Action<Stream> write)
    {
        var dir = Path.GetDirectoryName(file)!;
        int fd = Libc.open(dir, Libc.O_TMPFILE | Libc.O_WRONLY | Libc.O_CLOEXEC, (int)Mode);
        if (fd < 0) throw new IOException($"cannot create a file in {dir}: {Libc.Error(Libc.LastErrno)}");
        using (var output = new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.Write, bufferSize: 0))
        {
            write(output);
            output.Flush(flushToDisk: true);
            if (Libc.fchmod(fd, Mode) != 0) throw new IOException($"cannot chmod the snapshot: {Libc.Error(Libc.LastErrno)}");
            // linkat cannot replace F: link under a temp name, then rename over F in one step.
            var named = Path.Combine(dir, $".{Path.GetFileName(file)}.csshim-{Environment.ProcessId}");
            File.Delete(named);
            if (Libc.linkat(Libc.AT_FDCWD, $"/proc/self/fd/{fd}", Libc.AT_FDCWD, named, Libc.AT_SYMLINK_FOLLOW) != 0)
                throw new IOException($"cannot link the snapshot into {dir}: {Libc.Error(Libc.LastErrno)}");
            try
            {
                File.Move(named, file, overwrite: true);
            }
            catch
            {
                File.Delete(named);
                throw;
            }
        }
    }
}
