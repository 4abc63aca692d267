set terminal pngcairo size 960,600 font ',10'
set output 'exp2.png'
set title "2. Latency against client address spaces (Fig 4)"
set xlabel "client address spaces (each its own endpoint)"
set ylabel "latency (us): p50, bar to p99"
set key inside top left box opaque font ',9'
set grid
set logscale x 2
plot 'exp2.dat' index 0 using 1:2:2:3 with yerrorlines title "clio read", \
     'exp2.dat' index 1 using 1:2:2:3 with yerrorlines title "server read", \
     'exp2.dat' index 2 using 1:2:2:3 with yerrorlines title "pnic read"
