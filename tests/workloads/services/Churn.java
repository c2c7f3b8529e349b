// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.ArrayList;
import java.util.List;

/*
 * Churn: a Java program for the allocator tests (tests/e2e/test_alloc_services.py). THREADS
 * threads each allocate 20000 x 1 KB on the Java heap (a large reservation, committed in
 * part: the shape of a glibc heap at its 64 MiB boundaries, and no glibc arena); the JVM's
 * own threads (compiler, GC) make real glibc arenas. Prints "ready N" on stdout, then waits
 * for a line (or EOF) on stdin.
 *
 * usage: java Churn.java [THREADS]   (default 4)
 */
public class Churn {
	static final List<byte[]> keep = new ArrayList<>();

	public static void main(String[] args) throws Exception {
		int threads = args.length > 0 ? Integer.parseInt(args[0]) : 4;
		Thread[] t = new Thread[threads];
		for (int i = 0; i < threads; i++) {
			t[i] = new Thread(() -> {
				List<byte[]> mine = new ArrayList<>();
				for (int k = 0; k < 20000; k++)
					mine.add(new byte[1000]);
				synchronized (keep) {
					keep.addAll(mine);
				}
			});
			t[i].start();
		}
		for (Thread x : t)
			x.join();
		System.out.println("ready " + keep.size());
		System.out.flush();
		new BufferedReader(new InputStreamReader(System.in)).readLine();
	}
}
