set terminal pngcairo size 960,600 font ',10'
set output 'exp4.png'
set title "4. TLB hit, TLB miss, first touch, reads under faults (Fig 6)"
set xlabel "access"
set ylabel "latency (us): p50, bar to p99"
set key inside top left box opaque font ',9'
set grid
set logscale y
set xtics ("tlb-hit" 0, "tlb-miss" 1, "first-touch" 2, "first-touch-4M" 3, "read-under-faults" 4) rotate by -15
set xrange [-0.5:4.5]
plot 'exp4.dat' index 0 using 1:2:2:3 with yerrorlines title "clio", \
     'exp4.dat' index 1 using 1:2:2:3 with yerrorlines title "pnic", \
     'exp4.dat' index 2 using 1:2:2:3 with yerrorlines title "server", \
     'exp4.dat' index 3 using 1:2 with linespoints dashtype 2 lc rgb 'gray40' title "paper: Clio TLB miss = fault, 2.719 us"
