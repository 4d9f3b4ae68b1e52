using Csshim.TarLayer;
using NUnit.Framework;

namespace Csshim.Tests;

/// <summary>Write() runs on a live upper dir: vanishing files are skipped, changing sizes still give a valid archive.</summary>
[TestFixture]
public class LiveUpperTests : TmpfsFixture
{
    [TestCase(1000)]
    [TestCase(10)]
    public void FileSizeChange_HeaderSizeIsBinding(int declared)
    {
        var dir = NewDir("f");
        File.WriteAllBytes(dir + "/f", Enumerable.Repeat((byte)'x', 100).ToArray());
        int fd = Native.OpenAt(-100, dir + "/f", Native.O_RDONLY);
        var ms = new MemoryStream();
        try
        {
            using var w = new PaxTarWriter(ms);
            w.WriteHeader(new Csshim.TarLayer.TarEntry { Type = TarEntryType.File, Name = "./f", Mode = 0x1A4, Size = declared });
            w.WriteFileData(fd, declared);
            w.Finish();
        }
        finally { Native.Close(fd); }
        var dest = NewDir("dst");
        UpperArchive.Extract(new MemoryStream(ms.ToArray()), dest, new ExtractOptions());
        var data = File.ReadAllBytes(dest + "/f");
        Assert.That(data, Has.Length.EqualTo(declared));
        Assert.That(data.Take(Math.Min(100, declared)), Has.All.EqualTo((byte)'x'));
        Assert.That(data.Skip(100), Has.All.EqualTo((byte)0));
    }

    [Test]
    public void ConcurrentChurn_EverySnapshotRestores()
    {
        var upper = NewDir("upper");
        Sh.Run($"cd {Sh.Q(upper)}; for i in $(seq 1 200); do mkdir -p d$((i % 10)); head -c $((i * 50)) /dev/zero > d$((i % 10))/f$i; done");
        using var stop = new CancellationTokenSource();
        var churn = Task.Run(() =>
        {
            var rnd = new Random(1);
            while (!stop.IsCancellationRequested)
            {
                var d = $"{upper}/d{rnd.Next(10)}";
                var f = $"{d}/f{rnd.Next(1, 201)}";
                try
                {
                    switch (rnd.Next(4))
                    {
                        case 0: File.Delete(f); break;
                        case 1: File.AppendAllText(f, new string('a', rnd.Next(5000))); break;
                        case 2: using (var s = new FileStream(f, FileMode.OpenOrCreate)) s.SetLength(rnd.Next(100)); break;
                        case 3: if (rnd.Next(20) == 0) { Directory.Delete(d, true); Directory.CreateDirectory(d); } break;
                    }
                }
                catch (IOException) { }
            }
        });
        try
        {
            for (int i = 0; i < 30; i++)
            {
                var ms = new MemoryStream();
                UpperArchive.Write(upper, ms);
                var dest = NewDir("dst");
                var r = UpperArchive.Extract(new MemoryStream(ms.ToArray()), dest, new ExtractOptions());
                Assert.That(r.Entries, Is.GreaterThan(1));
                Directory.Delete(dest, true);
            }
        }
        finally { stop.Cancel(); churn.Wait(); }
    }
}
