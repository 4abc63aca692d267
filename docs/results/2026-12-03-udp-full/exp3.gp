set terminal pngcairo size 960,600 font ',10'
set output 'exp3.png'
set title "3. Latency against mapped pages (Fig 5)"
set xlabel "mapped pages of 4 KiB"
set ylabel "latency (us): p50, bar to p99"
set key inside top left box opaque font ',9'
set grid
set logscale x 2
plot 'exp3.dat' index 0 using 1:2:2:3 with yerrorlines title "clio read", \
     'exp3.dat' index 1 using 1:2:2:3 with yerrorlines title "server read", \
     'exp3.dat' index 2 using 1:2:2:3 with yerrorlines title "pnic read"
